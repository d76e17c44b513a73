// Primary side of the health checks (R-PHC-3, R-WRK-2): one real
// HealthService for the node. Each worker's registrations become handles of
// it (reference counted by the service, so two workers with the same
// configuration share one set of checkers and each instance is probed once
// per interval), and every change of any checker is pushed to the workers
// that registered its group.
import type { HealthHandle, HealthService, HealthTarget } from '../core/health-types.js';
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

export class HealthHub {
  private readonly workers = new Map<number, WorkerRegs>();
  private scheduled = false;
  private closed = false;

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

  private pushAll(): void {
    for (const [worker, w] of this.workers) {
      const out: HealthGroupState[] = [];
      const seen = new Set<string>();
      for (const r of w.regs.values()) {
        if (seen.has(r.key)) continue;
        seen.add(r.key);
        const unhealthy = r.names.filter((n) => !r.handle.isHealthy(n));
        const state = `${r.handle.version}|${unhealthy.join('\u0000')}`;
        if (w.sent.get(r.key) === state) continue;
        w.sent.set(r.key, state);
        out.push({ key: r.key, version: r.handle.version, unhealthy });
      }
      if (out.length) this.push(worker, out);
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.workers.values()) for (const r of w.regs.values()) r.handle.destroy();
    this.workers.clear();
  }
}
