// src/core/v8-tuning.ts pinTickObjectShape (issue 11): the hidden class of
// process.nextTick's tick objects survives full GCs run while nothing is
// queued, as a start runs them. Without a live tick object V8 drops that
// class (it comes from a weakly held cache), the next tick gets a new one,
// and after a few such GCs every nextTick defines its keys in the runtime
// (measured in the harness, docs/performance.md). Checked in a child process
// with V8's natives (%HaveSameMap), which a test runner's own process lacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pinTickObjectShape, pinnedTickObject } from '../../src/core/v8-tuning.js';

const run = promisify(execFile);
const MODULE = new URL('../../src/core/v8-tuning.js', import.meta.url).href;

const CHILD = `
const { pinTickObjectShape, pinnedTickObject } = await import(${JSON.stringify(MODULE)});
const { executionAsyncResource } = await import('node:async_hooks');
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
const tickObject = () => new Promise((r) => process.nextTick(() => r(executionAsyncResource())));
pinTickObjectShape();
await tickObject();
const pinned = pinnedTickObject();
const out = { pinned: pinned !== undefined, keys: pinned ? Object.keys(pinned) : [], symbols: pinned ? Object.getOwnPropertySymbols(pinned).map(String) : [], same: [] };
for (let i = 0; i < 8; i++) {
  // full GCs with no tick queued and none held but the pinned one
  await new Promise((r) => setTimeout(r, 1));
  globalThis.gc();
  globalThis.gc();
  out.same.push(sameMap(pinned, await tickObject()));
}
process.stdout.write(JSON.stringify(out));
`;

test('pinTickObjectShape keeps one tick object, whose hidden class new ticks still get after idle full GCs', async () => {
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', CHILD]);
  const out = JSON.parse(stdout) as { pinned: boolean; keys: string[]; symbols: string[]; same: boolean[] };
  assert.equal(out.pinned, true, 'a tick object is held');
  // it is the object nextTick builds, not some other async resource
  assert.deepEqual(out.keys, ['callback', 'args']);
  // (Node 24 adds its async context frame)
  for (const sym of ['Symbol(async_id_symbol)', 'Symbol(trigger_async_id_symbol)']) assert.ok(out.symbols.includes(sym), `${sym} in ${out.symbols.join(', ')}`);
  assert.deepEqual(out.same, Array(8).fill(true), 'every tick after a full GC has the pinned hidden class');
});

test('pinTickObjectShape pins once: later calls keep the first tick object', async () => {
  pinTickObjectShape();
  await new Promise((r) => setImmediate(r));
  const first = pinnedTickObject();
  assert.ok(first !== undefined);
  pinTickObjectShape();
  await new Promise((r) => setImmediate(r));
  assert.equal(pinnedTickObject(), first);
});
