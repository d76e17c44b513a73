import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPicker, crc32 } from '../../src/llm/balancer/index.js';
import { GroupSelector, exhaustedMessage } from '../../src/llm/balancer/groups.js';

const none = new Set<number>();
function picks(weights: number[], n: number): number[] {
  const p = createPicker('roundrobin', weights.map((_, i) => `i${i}`), weights);
  return Array.from({ length: n }, () => p.pick(none)!);
}

test('R-BAL-4: interleaved WRR follows the pseudo-code (8:2 -> 4 of 5 in every window of 5)', () => {
  const seq = picks([8, 2], 40);
  for (let s = 0; s + 5 <= seq.length; s++) {
    const w = seq.slice(s, s + 5);
    assert.equal(w.filter((x) => x === 0).length, 4, `window at ${s}: ${w}`);
  }
  const ten = seq.slice(0, 10);
  assert.equal(ten.filter((x) => x === 0).length, 8);
  assert.deepEqual(picks([4, 1], 10).filter((x) => x === 1).length, 2);
  assert.deepEqual(picks([1, 1], 6), [0, 1, 0, 1, 0, 1]);
  // exact trace of the pseudo-code for weights 3,1 (g=1, M=3): cw 3 -> p0; cw 2 -> p0; cw 1 -> p0, p1
  assert.deepEqual(picks([3, 1], 8), [0, 0, 0, 1, 0, 0, 0, 1]);
});

test('R-BAL-4: any window of sum(weights) consecutive picks splits exactly by weight', () => {
  for (const ws of [[5, 3, 2], [2, 2, 1], [7, 1], [3, 6, 9], [10, 1]]) {
    const total = ws.reduce((a, b) => a + b, 0);
    const seq = picks(ws, total * 4);
    for (let c = 0; c < 4; c++) {
      const w = seq.slice(c * total, (c + 1) * total);
      ws.forEach((wt, i) => assert.equal(w.filter((x) => x === i).length, wt, `weights ${ws} cycle ${c}`));
    }
  }
});

test('R-BAL-5: weight 0 members never picked in a group with positive weights; all-zero group rotates', () => {
  const seq = picks([0, 3, 0, 1], 40);
  assert.ok(!seq.includes(0) && !seq.includes(2));
  assert.deepEqual(picks([0, 0, 0], 6), [0, 1, 2, 0, 1, 2]);
  const p = createPicker('roundrobin', ['a', 'b', 'c'], [0, 2, 1]);
  assert.equal(p.pick(new Set([1, 2])), undefined, 'weight-0 member is not a fallback (R-BAL-5)');
});

test('R-FB-6/R-BAL-2: picker skips tried members and reports exhaustion', () => {
  const p = createPicker('roundrobin', ['a', 'b', 'c'], [1, 1, 1]);
  const tried = new Set<number>();
  for (let i = 0; i < 3; i++) {
    const x = p.pick(tried)!;
    assert.ok(!tried.has(x));
    tried.add(x);
  }
  assert.equal(p.pick(tried), undefined);
});

test('R-BAL-7: crc32 is the IEEE CRC-32', () => {
  assert.equal(crc32('123456789'), 0xcbf43926);
  assert.equal(crc32(''), 0);
});

test('R-BAL-7: chash is stable, shares follow weights, removal remaps only the removed member keys, weight 0 gets nothing', () => {
  const names = ['a', 'b', 'c'];
  const p = createPicker('chash', names, [1, 1, 2]);
  const keys = Array.from({ length: 4000 }, (_, i) => `key-${i}`);
  const map = keys.map((k) => p.pick(none, k)!);
  assert.deepEqual(keys.map((k) => p.pick(none, k)!), map, 'stable');
  const share = [0, 1, 2].map((i) => map.filter((x) => x === i).length / keys.length);
  assert.ok(Math.abs(share[2]! - 0.5) < 0.1 && Math.abs(share[0]! - 0.25) < 0.1, `shares ${share}`);
  // remove "b": ring over a,c with the same names
  const p2 = createPicker('chash', ['a', 'c'], [1, 2]);
  keys.forEach((k, i) => {
    const before = names[map[i]!]!;
    const after = ['a', 'c'][p2.pick(none, k)!]!;
    if (before !== 'b') assert.equal(after, before, `key ${k} moved from ${before}`);
  });
  const p3 = createPicker('chash', names, [0, 1, 1]);
  assert.ok(keys.every((k) => p3.pick(none, k) !== 0));
  const p4 = createPicker('chash', names, [0, 0, 0]);
  assert.equal(new Set(keys.map((k) => p4.pick(none, k))).size, 3);
});

test('R-BAL-8: chash retry walks clockwise to an untried member', () => {
  const p = createPicker('chash', ['a', 'b', 'c'], [1, 1, 1]);
  const first = p.pick(none, 'user-1')!;
  const second = p.pick(new Set([first]), 'user-1')!;
  assert.notEqual(second, first);
  const third = p.pick(new Set([first, second]), 'user-1')!;
  assert.ok(![first, second].includes(third));
  assert.equal(p.pick(new Set([0, 1, 2]), 'user-1'), undefined);
});

test('R-BAL-2/R-BAL-3/R-BAL-9: priority groups, health filtering with "use default", reset on health version', () => {
  const members = [
    { index: 0, name: 'hi', priority: 10, weight: 1 },
    { index: 1, name: 'lo1', priority: 0, weight: 1 },
    { index: 2, name: 'lo2', priority: 0, weight: 1 },
  ];
  const health = { unhealthy: new Set<string>(), version: 0, isHealthy(n: string) { return !this.unhealthy.has(n); } };
  const s = new GroupSelector(members, 'roundrobin', health);
  assert.equal(s.pick(new Set())!.name, 'hi');
  assert.equal(s.pick(new Set())!.name, 'hi');
  const lo = s.pick(new Set([0]))!.name;
  assert.ok(lo === 'lo1' || lo === 'lo2');
  assert.equal(s.pick(new Set([0, 1, 2])), undefined);
  assert.equal(exhaustedMessage(s.groupCount()), 'all servers tried');
  health.unhealthy.add('hi');
  health.version++;
  assert.notEqual(s.pick(new Set())!.name, 'hi');
  health.unhealthy = new Set(['hi', 'lo1', 'lo2']);
  health.version++;
  assert.equal(s.pick(new Set())!.name, 'hi', 'all unhealthy -> all are candidates');
  const single = new GroupSelector([members[1]!, members[2]!], 'roundrobin');
  assert.equal(exhaustedMessage(single.groupCount()), 'all upstream servers tried');
});
