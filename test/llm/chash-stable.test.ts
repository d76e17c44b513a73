// R-BAL-30: the chash ring is built from every instance of a priority group,
// healthy or not; unhealthy, cooling (R-PHC-2) and rate-limited instances are
// skipped while walking it, so a health change of one instance remaps only
// that instance's keys. The walk below is the engine's (src/llm/engine.ts
// pickUsable): pick, and when the member may not be used, add it to `tried`
// and pick again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupSelector, AVAILABLE, UNHEALTHY, COOLING, type Member } from '../../src/llm/balancer/groups.js';

function view() {
  return {
    unhealthy: new Set<string>(),
    cooling: new Set<string>(),
    version: 0,
    isHealthy(n: string) { return !this.unhealthy.has(n); },
    isCooling(n: string) { return this.cooling.has(n); },
    trialOpen() { return false; },
  };
}

/** the member the engine sends `key` to, and the skipped members' states */
function route(sel: GroupSelector, key: string, extraSkip?: Set<string>): { name: string | undefined; skipped: number[] } {
  const tried = new Set<number>();
  const skipped: number[] = [];
  for (let n = 0; n < 20; n++) {
    const m = sel.pick(tried, key);
    if (!m) return { name: undefined, skipped };
    const s = sel.availability(m.index);
    if (s === AVAILABLE && !extraSkip?.has(m.name)) return { name: m.name, skipped };
    skipped.push(s);
    tried.add(m.index);
  }
  return { name: undefined, skipped };
}

const members = (n: number, prio = () => 0, weight = (i: number) => 1 + (i % 3)): Member[] =>
  Array.from({ length: n }, (_, i) => ({ index: i, name: `inst-${i}`, priority: prio(), weight: weight(i) }));

const KEYS = Array.from({ length: 4000 }, (_, i) => `user-${i * 7919}`);

function mapping(sel: GroupSelector, skip?: Set<string>): string[] {
  return KEYS.map((k) => route(sel, k, skip).name!);
}

test('R-BAL-30 property: flapping one instance (unhealthy, cooling, rate limited) moves only its keys, and they come back', () => {
  const h = view();
  const sel = new GroupSelector(members(6), 'chash', h);
  const base = mapping(sel);
  const owners = new Set(base);
  assert.equal(owners.size, 6, 'every instance owns keys');
  for (const flapped of ['inst-0', 'inst-3', 'inst-5']) {
    for (const how of ['unhealthy', 'cooling', 'rate_limited'] as const) {
      let skip: Set<string> | undefined;
      if (how === 'unhealthy') h.unhealthy.add(flapped);
      else if (how === 'cooling') h.cooling.add(flapped);
      else skip = new Set([flapped]);
      h.version++;
      const during = mapping(sel, skip);
      let moved = 0;
      KEYS.forEach((k, i) => {
        if (base[i] === flapped) {
          assert.notEqual(during[i], flapped, `${how}: key ${k} still on ${flapped}`);
          moved++;
        } else {
          assert.equal(during[i], base[i], `${how} ${flapped}: key ${k} of ${base[i]} moved to ${during[i]}`);
        }
      });
      assert.ok(moved > 0);
      h.unhealthy.clear();
      h.cooling.clear();
      h.version++;
      assert.deepEqual(mapping(sel), base, `${how} ${flapped}: back to the same mapping`);
    }
  }
});

test('R-BAL-30 two instances down at once: only their keys move; the skips are reported per state', () => {
  const h = view();
  const sel = new GroupSelector(members(5), 'chash', h);
  const base = mapping(sel);
  h.unhealthy.add('inst-1');
  h.cooling.add('inst-2');
  h.version++;
  const during = mapping(sel);
  KEYS.forEach((_, i) => {
    if (base[i] !== 'inst-1' && base[i] !== 'inst-2') assert.equal(during[i], base[i]);
    else assert.ok(during[i] !== 'inst-1' && during[i] !== 'inst-2');
  });
  const k = KEYS[base.indexOf('inst-2')]!;
  assert.ok(route(sel, k).skipped.includes(COOLING));
  const k1 = KEYS[base.indexOf('inst-1')]!;
  assert.ok(route(sel, k1).skipped.includes(UNHEALTHY));
});

test('R-BAL-30 R-BAL-3 every instance unhealthy: "use default", the mapping is the healthy one; priority groups keep their rings', () => {
  const h = view();
  const sel = new GroupSelector(members(4), 'chash', h);
  const base = mapping(sel);
  for (let i = 0; i < 4; i++) h.unhealthy.add(`inst-${i}`);
  h.version++;
  assert.deepEqual(mapping(sel), base);

  // two priorities: the high group's keys fall to the low group only when the whole high group is down
  const ms: Member[] = [
    { index: 0, name: 'hi-0', priority: 1, weight: 1 },
    { index: 1, name: 'hi-1', priority: 1, weight: 1 },
    { index: 2, name: 'lo-0', priority: 0, weight: 1 },
  ];
  const h2 = view();
  const sel2 = new GroupSelector(ms, 'chash', h2);
  const b2 = mapping(sel2);
  assert.ok(b2.every((n) => n.startsWith('hi-')));
  h2.unhealthy.add('hi-0');
  h2.version++;
  const d2 = mapping(sel2);
  KEYS.forEach((_, i) => assert.equal(d2[i], b2[i] === 'hi-0' ? 'hi-1' : b2[i]));
  h2.unhealthy.add('hi-1');
  h2.version++;
  assert.ok(mapping(sel2).every((n) => n === 'lo-0'));
});
