import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryState } from '../../src/state/memory.js';

test('R-RL-11 memory counter: first charge starts a fixed window, charges accumulate, window end empties it', async () => {
  let t = 1_000_000;
  const s = createMemoryState({ now: () => t });
  try {
    assert.deepEqual(await s.peek('k'), { used: 0 });
    assert.deepEqual(await s.charge('k', 10, 60), { used: 10, resetIn: 60 });
    t += 15_000;
    assert.deepEqual(await s.charge('k', 5, 60), { used: 15, resetIn: 45 });
    // peek changes nothing
    assert.deepEqual(await s.peek('k'), { used: 15, resetIn: 45 });
    assert.deepEqual(await s.peek('k'), { used: 15, resetIn: 45 });
    t += 500;
    assert.equal((await s.peek('k')).resetIn, 45, 'whole seconds, rounded up');
    t += 44_500; // exactly at the end of the window
    assert.deepEqual(await s.peek('k'), { used: 0 });
    assert.equal(s.size(), 0, 'expired window removed lazily');
    // the next charge starts a new window (not aligned to the old one)
    t += 7_000;
    assert.deepEqual(await s.charge('k', 3, 60), { used: 3, resetIn: 60 });
  } finally {
    await s.close();
  }
});

test('R-RL-11 R-RL-5 memory counters are independent per key', async () => {
  const s = createMemoryState();
  try {
    await s.charge('a', 7, 10);
    await s.charge('b', 2, 10);
    assert.equal((await s.peek('a')).used, 7);
    assert.equal((await s.peek('b')).used, 2);
    assert.equal((await s.peek('c')).used, 0);
  } finally {
    await s.close();
  }
});

test('R-RL-11 memory counter with a real 1 s window resets after the boundary', async () => {
  const s = createMemoryState();
  try {
    await s.charge('w', 4, 1);
    assert.equal((await s.peek('w')).used, 4);
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(await s.peek('w'), { used: 0 });
    assert.equal((await s.charge('w', 1, 1)).used, 1);
  } finally {
    await s.close();
  }
});

test('memory values: set/get, TTL expiry, overwrite', async () => {
  let t = 0;
  const s = createMemoryState({ now: () => t });
  try {
    await s.setValue('x', 'healthy');
    await s.setValue('y', 'unhealthy', 2);
    assert.equal(await s.getValue('x'), 'healthy');
    assert.equal(await s.getValue('y'), 'unhealthy');
    t += 2_000;
    assert.equal(await s.getValue('y'), undefined);
    assert.equal(await s.getValue('x'), 'healthy');
    await s.setValue('x', 'other');
    assert.equal(await s.getValue('x'), 'other');
    assert.equal(await s.getValue('nope'), undefined);
  } finally {
    await s.close();
  }
});

test('memory state: sweep timer removes unread expired entries and does not keep the process alive', async () => {
  let t = 0;
  const s = createMemoryState({ now: () => t, sweepMs: 20 });
  try {
    await s.charge('a', 1, 1);
    await s.setValue('v', 'x', 1);
    assert.equal(s.size(), 2);
    t += 5_000;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(s.size(), 0);
  } finally {
    await s.close();
  }
});
