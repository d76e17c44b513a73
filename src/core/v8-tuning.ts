// V8 heap settings for a long-running proxy, applied when `switchyard start`
// begins, before any request is served.
//
// Allocation-site pretenuring: V8 watches how many objects of each allocation
// site survive a young-generation GC and, above a threshold, allocates that
// site's objects directly in the old generation. Under load a proxy's
// per-request objects (contexts, headers, promises) are all alive when a
// scavenge happens in the middle of a burst, so V8 pretenures them although
// they die a few milliseconds later. The old generation then fills with
// short-lived garbage: every scavenge walks a large old-to-new remembered set
// (9 ms instead of 1.5 ms here) and mark-compacts run every second. Measured
// on the bench route at saturation (docs/performance.md): 10.4k -> 15.1k
// req/s, p99 34 ms -> 11 ms, 16 -> 1 mark-compacts in 10 s. Turning it off
// costs nothing for objects that really are long-lived: they are promoted
// after surviving two scavenges, as usual.
//
// SWITCHYARD_V8_PRETENURING=1 keeps V8's default (for comparison).
//
// Old-generation growth: after a mark-compact V8 lets the old generation grow
// to up to 4x its live size before the next one. Under streaming traffic the
// objects of long streams are promoted, so RSS rose and fell by 50 MB
// (+35 %) in a sawtooth with a 30-60 s period in the soak (docs/reliability.md).
// Growing it by at most 30 % between mark-compacts kept RSS within -4 % /
// +3 % of its median for the 27 judged minutes of the 30-minute soak, but
// with the gateway's 20-odd MB of code and configuration live, 30 % is a
// few MB of headroom: under streams it ran about 3x the floor's mark-compacts.
// Paired runs (both builds loaded at once, docs/performance.md) put that at
// 6-7 % of the CPU per stream; 60 % took it back for 5-8 MB of peak RSS,
// and kept the soak's RSS flat (docs/reliability.md).
// SWITCHYARD_V8_HEAP_GROWING_PERCENT=N sets the growth to (1 + N/100); 0
// keeps V8's dynamic factor; anything but a whole number >= 0 means 60.
//
// Young generation at start: V8 doubles the semi-spaces (from 1 MB up to its
// maximum, 16 MB with Node 20 here) whenever the bytes surviving scavenges
// since the last growth exceed their capacity. Loading the modules and
// compiling the configuration keeps almost everything it allocates, so a
// start alone grew them to the maximum, 32 MB of young generation that an
// idle gateway never needs (about 16 MB of RSS at start), and so did the
// first configuration writes and requests. Growth is held off until the
// allocation rate asks for it: more than 10 scavenges of the 1 MB semi-space
// in one second (10 MB/s, a few hundred requests a second); from then on V8
// sizes the young generation as usual.
//
// The tick object's hidden class: process.nextTick builds each queued tick
// from an object literal with computed keys ({[async_id_symbol]: …,
// [trigger_async_id_symbol]: …, callback, args}; Node 24 adds its async
// context frame). V8 takes the hidden class
// (map) of such a literal from a cache it holds weakly, so a full GC that
// finds no tick object alive drops it and the next tick gets a new one. A
// start runs several full GCs while nothing is queued (module loading,
// schema compiling), and after a few of them nextTick's feedback for those
// keys is megamorphic for the life of the process: every nextTick (stream
// writes, reads and ends call it several times per request) then defines
// them in the runtime (Runtime_DefineKeyedOwnPropertyInLiteral, map
// transitions and migrations, feedback updates: 1.7 % of the gateway's CPU
// samples on the bench route; nodefloor shows the same after forced idle
// GCs). Holding one tick object keeps its map, and so the fast path, alive.
import v8 from 'node:v8';
import { executionAsyncResource } from 'node:async_hooks';
import { PerformanceObserver, constants } from 'node:perf_hooks';

/** V8's default --semi-space-growth-factor (Node 20 and 24) */
const SEMI_SPACE_GROWTH_FACTOR = 2;
const DEFAULT_HEAP_GROWING_PERCENT = 60;
const SCAVENGES_PER_SECOND_TO_GROW = 10;

export function applyV8Tuning(env: NodeJS.ProcessEnv = process.env): void {
  pinTickObjectShape();
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (env.SWITCHYARD_V8_PRETENURING !== '1') v8.setFlagsFromString('--no-allocation-site-pretenuring');
  const growing = heapGrowingPercent(env);
  if (growing > 0) v8.setFlagsFromString(`--heap-growing-percent=${growing}`);
}

/** SWITCHYARD_V8_HEAP_GROWING_PERCENT: a whole number >= 0 (0: V8's own factor), else the default */
export function heapGrowingPercent(env: NodeJS.ProcessEnv): number {
  const raw = env.SWITCHYARD_V8_HEAP_GROWING_PERCENT;
  const n = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_HEAP_GROWING_PERCENT;
}

/** once the gateway is ready to serve: the young generation may grow again as soon as traffic needs it */
export function endStartupTuning(): void {
  let windowStart = -Infinity;
  let scavenges = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
      if (e.startTime - windowStart > 1000) {
        windowStart = e.startTime;
        scavenges = 0;
      }
      if (++scavenges < SCAVENGES_PER_SECOND_TO_GROW) continue;
      v8.setFlagsFromString(`--semi-space-growth-factor=${SEMI_SPACE_GROWTH_FACTOR}`);
      observer.disconnect();
      return;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** one tick object, kept for the life of the process (see the header) */
let pinnedTick: object | undefined;

/** keeps one tick object alive from the next tick on, so that its hidden class survives full GCs */
export function pinTickObjectShape(): void {
  if (pinnedTick !== undefined) return;
  process.nextTick(() => {
    pinnedTick ??= executionAsyncResource();
  });
}

/** the tick object pinTickObjectShape keeps (tests) */
export function pinnedTickObject(): object | undefined {
  return pinnedTick;
}
