// Garbage collections once the gateway has gone quiet after it started or
// after its configuration changed: one that compacts, then one that lets V8
// shrink the young generation.
//
// Starting, and compiling a configuration (JSON Schema validators, plugin
// and route compilation), allocates a lot that dies at once; the first
// requests load the request path's modules. V8's mark-compacts then free
// most of those objects but evacuate only the most fragmented pages, so the
// old generation keeps pages that are partly empty, and the young
// generation keeps the size the start's allocation rate gave it. V8's
// memory reducer compacts everything and shrinks the young generation, but
// only about 15 s after the last mark-compact and only while nothing
// allocates. Measured on a fresh full-chain gateway (docs/performance.md):
// RSS 83 MB after the first request, 72.6 MB once the memory reducer ran,
// 15 s later. One compacting GC when the gateway is quiet gives back the
// old generation's part of that (about 5 MB: 20 MB of old-space pages for
// 15 MB of live objects) a second after the last activity, and one more
// full GC 5 s later lets V8 shrink the young generation (IDLE_STEPS).
//
// Each GC runs only when no request is in flight and none started during
// the last `quietMs`, once per start or configuration change; under
// traffic they wait (V8 manages a busy heap as usual). Each stops the
// event loop for one full GC of the heap (about 10–40 ms here).
// SWITCHYARD_IDLE_COMPACTION=0 turns it off.
//
// They run only while the gateway is cold: until it has served
// COLD_REQUESTS requests. A forced full GC does not keep the hidden classes
// (maps) that no live object has, as V8's own GCs do for a few more GCs
// (--retain-maps-for-n-gc), and V8 throws away the optimized code that
// embeds them. On a quiet gateway no request's objects are alive, so after
// traffic one such GC deoptimized 105 functions of the request path
// (node:http, undici, the pipeline): on the bench route the next 6 s of
// streams cost 2.3 instead of 1.9 ms of CPU each, most of it on V8's
// compiler threads (docs/performance.md, sixth session). Before the first
// hundred requests little is optimized, and the start's garbage is what
// fills the heap.
import v8 from 'node:v8';
import vm from 'node:vm';

let gcFn: (() => void) | undefined;

/** V8's gc function, taken from a new context so that the main context never gets a global `gc` */
function gcFunction(): () => void {
  if (gcFn === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
    // contexts created from now on do not get it either
    v8.setFlagsFromString('--no-expose-gc');
  }
  return gcFn;
}

/** one full GC; returns how long it took in ms */
export function fullGc(): number {
  const gc = gcFunction();
  const t0 = performance.now();
  gc();
  return performance.now() - t0;
}

/** one full GC that evacuates every page it can; returns how long it took in ms */
export function compactHeap(): number {
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    return fullGc();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

/** what the compaction waits on: the proxy's counts */
export interface ProxyActivity {
  /** requests started since the gateway started */
  readonly started: number;
  /** requests started and not yet logged */
  readonly inFlight: number;
}

export const DEFAULT_QUIET_MS = 1000;

/** requests after which the idle GCs no longer run (the header says why) */
export const COLD_REQUESTS = 100;

/** SWITCHYARD_IDLE_COMPACTION=0 turns the compaction off */
export function idleCompactionEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SWITCHYARD_IDLE_COMPACTION !== '0';
}

/** how many looks at the proxy's counts span `quietMs` */
const CHECKS_PER_QUIET = 4;

/** one GC of the idle sequence: it runs once the proxy has been quiet for `quiet` × quietMs */
export interface IdleStep {
  quiet: number;
  run: () => number;
}

/**
 * What runs after a start or configuration change: the compaction once the
 * proxy has been quiet for 1 s, then one more full GC after 5 s more. V8
 * shrinks the young generation only in a GC that finds the allocation rate
 * of the last few seconds low, which the compaction's GC, so soon after the
 * start's allocations, does not (young generation 6 MB of pages -> 1 MB:
 * RSS 73.7 -> 68.5 MB on the full chain).
 */
export const IDLE_STEPS: readonly IdleStep[] = [{ quiet: 1, run: compactHeap }, { quiet: 5, run: fullGc }];

export class IdleCompaction {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastStarted = -1;
  private quietChecks = 0;
  /** the next of `steps` to run */
  private step = 0;
  /** steps run (tests, logs) */
  runs = 0;

  constructor(
    private readonly activity: ProxyActivity,
    private readonly quietMs = DEFAULT_QUIET_MS,
    private readonly steps: readonly IdleStep[] = IDLE_STEPS,
    private readonly onStep?: (step: number, ms: number) => void,
    /** `activity.started` past which no step runs */
    private readonly coldLimit = COLD_REQUESTS,
  ) {}

  /** the gateway has served traffic: forced GCs would cost its optimized code */
  private get warm(): boolean {
    return this.activity.started > this.coldLimit;
  }

  /**
   * After the start and after each configuration change: the steps again,
   * each once the proxy has been quiet long enough; nothing once it is warm.
   */
  request(): void {
    if (this.stopped || this.warm) return;
    this.step = 0;
    this.quietChecks = 0;
    this.lastStarted = this.activity.started;
    if (this.timer === undefined) this.arm();
  }

  /**
   * The counts are looked at a few times per quiet period, so that the GC
   * follows the last request by quietMs to quietMs + a quarter of it.
   */
  private arm(): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, Math.round(this.quietMs / CHECKS_PER_QUIET)));
    // a quiet gateway that is stopping does not wait for it
    this.timer.unref();
  }

  /** waiting for a quiet moment (tests) */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    this.timer = undefined;
    if (this.stopped || this.warm) return;
    const started = this.activity.started;
    if (started !== this.lastStarted || this.activity.inFlight > 0) {
      this.lastStarted = started;
      this.quietChecks = 0;
      return this.arm();
    }
    const next = this.steps[this.step]!;
    if (++this.quietChecks < CHECKS_PER_QUIET * next.quiet) return this.arm();
    const step = this.step++;
    this.runs++;
    const ms = next.run();
    this.onStep?.(step, ms);
    if (this.step < this.steps.length) {
      this.quietChecks = 0;
      this.arm();
    }
  }
}
