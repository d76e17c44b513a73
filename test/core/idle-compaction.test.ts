// src/core/idle-compaction.ts (issue 11, the RSS at start): one compacting
// GC once the proxy has been quiet after the start or a configuration change.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { COLD_REQUESTS, compactHeap, IdleCompaction, idleCompactionEnabled } from '../../src/core/idle-compaction.js';
import { startIdleCompaction } from '../../src/app.js';

function fakeProxy() {
  return { started: 0, inFlight: 0 };
}

/** the compaction re-arms a timer per look at the counts: time is advanced a look at a time */
function advance(ms: number, step = 250): void {
  for (let t = 0; t < ms; t += step) mock.timers.tick(Math.min(step, ms - t));
}

function withMockTimers(fn: () => void): void {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    fn();
  } finally {
    mock.timers.reset();
  }
}

/** an IdleCompaction (quietMs 1000) over a fake proxy, with mocked timers; `runs()` counts its compactions */
function withCompaction(fn: (c: IdleCompaction, proxy: { started: number; inFlight: number }, runs: () => number) => void): void {
  withMockTimers(() => {
    const proxy = fakeProxy();
    let n = 0;
    const c = new IdleCompaction(proxy, 1000, [{ quiet: 1, run: () => { n++; return 0; } }]);
    fn(c, proxy, () => n);
  });
}

test('R-GEN-10: compacts once the proxy has been quiet for quietMs after a start or change, then not again until asked', () => {
  withCompaction((c, proxy, runs) => {
    c.request();
    advance(750);
    assert.equal(runs(), 0, 'not before the quiet period');
    advance(250);
    assert.equal(runs(), 1);
    assert.equal(c.pending, false);
    advance(10_000);
    assert.equal(runs(), 1, 'once per request()');
    c.request();
    advance(1000);
    assert.equal(runs(), 2, 'again after the next configuration change');
  });
});

test('R-GEN-10: waits while requests are in flight or keep starting (never under traffic)', () => {
  withCompaction((c, proxy, runs) => {
    c.request();
    proxy.inFlight = 1;
    advance(5000);
    assert.equal(runs(), 0, 'a request in flight (a long stream) holds it off');
    proxy.inFlight = 0;
    for (let i = 0; i < 20; i++) {
      proxy.started++;
      advance(500);
    }
    assert.equal(runs(), 0, 'a request every 500 ms is not quiet');
    assert.equal(c.pending, true);
    advance(1000);
    assert.equal(runs(), 1, 'quiet for 1 s after the last one');
  });
});

test('R-GEN-10: no GC once the gateway is warm (more than COLD_REQUESTS requests): not pending, not after a change', () => {
  withCompaction((c, proxy, runs) => {
    c.request();
    proxy.started = COLD_REQUESTS;
    advance(1000);
    advance(1000);
    assert.equal(runs(), 1, 'a gateway that served COLD_REQUESTS requests is still cold');
    c.request();
    proxy.started = COLD_REQUESTS + 1;
    advance(1000);
    assert.equal(runs(), 1, 'the traffic that made it warm ends the wait');
    assert.equal(c.pending, false);
    advance(10_000);
    assert.equal(runs(), 1);
    c.request();
    assert.equal(c.pending, false, 'a configuration change on a warm gateway arms nothing');
    advance(10_000);
    assert.equal(runs(), 1);
  });
});

test('R-GEN-10, R-GEN-18: a configuration change while waiting starts the quiet period again; stop() cancels', () => {
  withCompaction((c, proxy, runs) => {
    c.request();
    advance(750);
    c.request();
    advance(750);
    assert.equal(runs(), 0);
    advance(250);
    assert.equal(runs(), 1);
    c.request();
    c.stop();
    advance(5000);
    assert.equal(runs(), 1, 'stopped');
    c.request();
    advance(5000);
    assert.equal(runs(), 1, 'request() after stop() does nothing');
  });
});

test('R-GEN-10: startIdleCompaction runs both GCs after the start and after each configuration change; off with SWITCHYARD_IDLE_COMPACTION=0', () => {
  withMockTimers(() => {
    const listeners: Array<() => void> = [];
    const proxy = fakeProxy();
    const c = startIdleCompaction((l) => listeners.push(l), proxy);
    assert.ok(c);
    assert.equal(listeners.length, 1);
    advance(1000);
    assert.equal(c.runs, 1, 'the real compaction ran once after the start');
    advance(4750);
    assert.equal(c.runs, 1);
    advance(250);
    assert.equal(c.runs, 2, 'then, 5 s later, the full GC that lets V8 shrink the young generation');
    advance(10_000);
    assert.equal(c.runs, 2);
    listeners[0]!();
    advance(6000);
    assert.equal(c.runs, 4, 'both again after a configuration change');
    c.stop();
  });
  assert.equal(idleCompactionEnabled({ SWITCHYARD_IDLE_COMPACTION: '0' }), false);
  assert.equal(idleCompactionEnabled({}), true);
  const prev = process.env.SWITCHYARD_IDLE_COMPACTION;
  process.env.SWITCHYARD_IDLE_COMPACTION = '0';
  try {
    assert.equal(startIdleCompaction(() => {}, fakeProxy()), undefined);
  } finally {
    if (prev === undefined) delete process.env.SWITCHYARD_IDLE_COMPACTION;
    else process.env.SWITCHYARD_IDLE_COMPACTION = prev;
  }
});

test('R-GEN-10: the steps run in order, each after a quiet period of its own; a configuration change starts them over', () => {
  withMockTimers(() => {
    const proxy = fakeProxy();
    const ran: string[] = [];
    const c = new IdleCompaction(proxy, 1000, [{ quiet: 1, run: () => { ran.push('compact'); return 0; } }, { quiet: 2, run: () => { ran.push('collect'); return 0; } }]);
    c.request();
    advance(1000);
    assert.deepEqual(ran, ['compact']);
    proxy.started++;
    advance(1750);
    assert.deepEqual(ran, ['compact'], 'a request between the steps postpones the next');
    advance(500);
    assert.deepEqual(ran, ['compact', 'collect'], 'after a quiet period of its own length');
    assert.equal(c.pending, false);
    c.request();
    advance(1000);
    c.request();
    advance(3000);
    assert.deepEqual(ran, ['compact', 'collect', 'compact', 'compact', 'collect'], 'each change starts from the compaction');
  });
});

function oldSpacePhysical(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.physical_space_size;
}

test('compactHeap gives back the pages of a fragmented old generation and exposes no global gc', () => {
  // about 40 MB of small objects, moved to the old generation by a full GC,
  // then nine in ten dropped: every page keeps a few live objects
  let objs: Array<{ i: number; s: string; a: number[] }> = [];
  for (let i = 0; i < 400_000; i++) objs.push({ i, s: `object ${i}`, a: [i, i + 1] });
  compactHeap();
  const kept = objs.filter((_, i) => i % 10 === 0);
  objs = [];
  const before = oldSpacePhysical();
  const ms = compactHeap();
  const after = oldSpacePhysical();
  assert.ok(ms >= 0);
  assert.equal(kept.length, 40_000);
  assert.ok(before - after > 10 * 1024 * 1024, `old space ${(before / 2 ** 20).toFixed(1)} MB -> ${(after / 2 ** 20).toFixed(1)} MB`);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});
