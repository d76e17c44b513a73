// Primary side of the health checks (R-PHC-3, R-WRK-2): one real
// HealthService for the node. Each worker's registrations become handles of
// it (reference counted by the service, so two workers with the same
// configuration share one set of checkers and each instance is probed once
// per interval), and every change of any checker is pushed to the workers
// that registered its group. A worker's passive observations and Retry-After
// cool-downs go to the same checkers, so they count for every worker; an open
// trial (R-PHC-1) is offered to one worker at a time.
import type { HealthHandle, HealthService, HealthTarget, PassiveKind } from '../core/health-types.js';
import { healthGroupKey, type HealthGroupState } from './messages.js';

interface Registration {
  key: string;
  handle: HealthHandle;
  names: string[];
}

interface WorkerRegs {
  regs: Map<number, Registration>;
  /** what was last sent, per group key: `version|unhealthy names` */
  sent: Map<string, string>;
}

/** a dead worker's registrations are kept this long, so its replacement finds the checkers' state */
const RELEASE_DELAY_MS = 5_000;
/** an offered trial not taken within this is offered to the next worker */
const OFFER_MS = 2_000;

interface Offer {
  worker: number;
  at: number;
}

export class HealthHub {
  private readonly workers = new Map<number, WorkerRegs>();
  private scheduled = false;
  private closed = false;
  /** open trials by `<group key>\0<name>`: the worker they are offered to */
  private readonly offers = new Map<string, Offer>();
  private offerTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly health: HealthService,
    private readonly push: (worker: number, groups: HealthGroupState[]) => void,
  ) {}

  private regsOf(worker: number): WorkerRegs {
    let w = this.workers.get(worker);
    if (!w) {
      w = { regs: new Map(), sent: new Map() };
      this.workers.set(worker, w);
    }
    return w;
  }

  register(worker: number, id: number, parentKey: string, confHash: string, targets: HealthTarget[]): void {
    if (this.closed) return;
    const handle = this.health.register(parentKey, confHash, targets);
    const names = targets.filter((t) => t && typeof t.name === 'string').map((t) => t.name);
    this.regsOf(worker).regs.set(id, { key: healthGroupKey(parentKey, confHash), handle, names });
    this.changed();
  }

  /** R-PHC-3: a worker's passive observation or cool-down */
  observe(worker: number, id: number, name: string, kind: PassiveKind, status: number, retryAfterMs?: number): void {
    this.workers.get(worker)?.regs.get(id)?.handle.observe(name, kind, status, retryAfterMs);
  }

  /** R-PHC-1: the worker sends the trial it was offered */
  claim(worker: number, id: number, name: string): void {
    const r = this.workers.get(worker)?.regs.get(id);
    if (!r) return;
    this.offers.delete(r.key + '\0' + name);
    r.handle.claimTrial(name);
  }

  unregister(worker: number, id: number): void {
    const w = this.workers.get(worker);
    const r = w?.regs.get(id);
    if (!w || !r) return;
    w.regs.delete(id);
    r.handle.destroy();
    let still = false;
    for (const o of w.regs.values()) if (o.key === r.key) still = true;
    if (!still) w.sent.delete(r.key);
  }

  /** the worker is gone: release its checkers a little later */
  workerGone(worker: number): void {
    const w = this.workers.get(worker);
    if (!w) return;
    this.workers.delete(worker);
    const timer = setTimeout(() => {
      for (const r of w.regs.values()) r.handle.destroy();
    }, RELEASE_DELAY_MS);
    timer.unref();
  }

  /** some checker changed state: push the groups that differ from what each worker has (coalesced) */
  changed(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pushAll();
    });
  }

  /** the worker an open trial is offered to: the same one until it is taken or its offer is stale */
  private offerOf(key: string, name: string, now: number): number | undefined {
    const k = key + '\0' + name;
    const o = this.offers.get(k);
    const candidates: number[] = [];
    for (const [worker, w] of this.workers) {
      for (const r of w.regs.values()) if (r.key === key) { candidates.push(worker); break; }
    }
    if (!candidates.length) return undefined;
    candidates.sort((a, b) => a - b);
    if (o && candidates.includes(o.worker) && now - o.at < OFFER_MS) return o.worker;
    const next = o ? candidates.find((c) => c > o.worker) ?? candidates[0]! : candidates[0]!;
    this.offers.set(k, { worker: next, at: now });
    if (!this.offerTimer) {
      this.offerTimer = setTimeout(() => {
        this.offerTimer = undefined;
        if (this.offers.size) this.changed();
      }, OFFER_MS + 50);
      this.offerTimer.unref();
    }
    return next;
  }

  private pushAll(): void {
    const now = Date.now();
    const open = new Set<string>();
    for (const [worker, w] of this.workers) {
      const out: HealthGroupState[] = [];
      const seen = new Set<string>();
      for (const r of w.regs.values()) {
        if (seen.has(r.key)) continue;
        seen.add(r.key);
        const h = r.handle;
        const unhealthy = r.names.filter((n) => !h.isHealthy(n));
        const cooling: Array<[string, number]> = [];
        const trial: string[] = [];
        const wary: string[] = [];
        for (const n of r.names) {
          const until = h.coolingUntil?.(n) ?? 0;
          if (until > 0) cooling.push([n, until]);
          if (h.trialOpen(n)) {
            open.add(r.key + '\0' + n);
            if (this.offerOf(r.key, n, now) === worker) trial.push(n);
          }
          if (h.status?.(n) === 'mostly_healthy') wary.push(n);
        }
        const state = `${h.version}|${unhealthy.join('\u0000')}|${JSON.stringify(cooling)}|${trial.join('\u0000')}|${wary.join('\u0000')}`;
        if (w.sent.get(r.key) === state) continue;
        w.sent.set(r.key, state);
        out.push({ key: r.key, version: h.version, unhealthy, cooling, trial, wary });
      }
      if (out.length) this.push(worker, out);
    }
    for (const k of this.offers.keys()) if (!open.has(k)) this.offers.delete(k);
  }

  close(): void {
    this.closed = true;
    if (this.offerTimer) clearTimeout(this.offerTimer);
    for (const w of this.workers.values()) for (const r of w.regs.values()) r.handle.destroy();
    this.workers.clear();
  }
}
