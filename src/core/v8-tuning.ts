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
import v8 from 'node:v8';

export function applyV8Tuning(env: NodeJS.ProcessEnv = process.env): void {
  if (env.SWITCHYARD_V8_PRETENURING === '1') return;
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
}
