// Worker side of the health checks (R-PHC-3, R-WRK-2): the checkers run in
// the primary, once per node. A worker's compiled configuration registers its
// instances there, and `isHealthy()` / `isCooling()` read a local copy of the
// state the primary pushes after every change, so the per-request checks stay
// synchronous map lookups. What real traffic sees is sent to the primary only
// when it can change something: a Retry-After cool-down, a passive failure, a
// passive success of an instance that is not `healthy`, a trial's outcome.
import type { HealthHandle, HealthService, HealthTarget, PassiveKind } from '../core/health-types.js';
import { normalizePassive, type PassiveConf } from '../llm/health/conf.js';
import { classifyStatus } from '../llm/health/probe.js';
import { healthGroupKey, type HealthGroupState, type ToPrimary } from './messages.js';

interface GroupView {
  /** the primary's version */
  version: number;
  /** local changes since (a cool-down seen here, a trial claimed here) */
  local: number;
  unhealthy: ReadonlySet<string>;
  cooling: ReadonlyMap<string, number>;
  trial: Set<string>;
  /**
   * R-PHC-1: trials claimed here that the primary's pushes still offer: a push
   * built before the primary handled the claim must not open them again
   */
  claimedHere: Set<string>;
  wary: ReadonlySet<string>;
  /** cool-downs started here, until the primary's state has them */
  localCool: Map<string, number>;
}

const ALWAYS_HEALTHY: HealthHandle = Object.freeze({
  isHealthy: () => true,
  isCooling: () => false,
  trialOpen: () => false,
  claimTrial: () => false,
  observe() {},
  version: 0,
  destroy() {},
});
const EMPTY: ReadonlySet<string> = new Set();
const NO_COOL: ReadonlyMap<string, number> = new Map();

export interface RemoteHealth extends HealthService {
  /** the primary's `health` message */
  update(groups: HealthGroupState[]): void;
}

function emptyView(): GroupView {
  return { version: 0, local: 0, unhealthy: EMPTY, cooling: NO_COOL, trial: new Set(), claimedHere: new Set(), wary: EMPTY, localCool: new Map() };
}

export function createRemoteHealth(send: (msg: ToPrimary) => void, _disabled: boolean): RemoteHealth {
  let nextId = 1;
  const views = new Map<string, GroupView>();
  /** handles alive per group, so a group's view is dropped with its last handle */
  const refs = new Map<string, number>();
  return {
    register(parentKey: string, confHash: string, targets: HealthTarget[]): HealthHandle {
      // cool-downs (R-PHC-2) apply with disabled checks too; the primary logs R-HC-15's warning once
      if (!targets || targets.length === 0) return ALWAYS_HEALTHY;
      const id = nextId++;
      const key = healthGroupKey(parentKey, confHash);
      refs.set(key, (refs.get(key) ?? 0) + 1);
      if (!views.has(key)) views.set(key, emptyView());
      send({ sy: 'health.reg', id, parentKey, confHash, targets });
      const passive = new Map<string, PassiveConf>();
      if (!_disabled) {
        for (const t of targets) {
          const p = t && normalizePassive(t.checks);
          if (p) passive.set(t.name, p);
        }
      }
      /** trials this worker claimed and has not reported yet */
      const claimed = new Set<string>();
      let destroyed = false;
      const view = (): GroupView | undefined => views.get(key);
      return {
        isHealthy(name: string): boolean {
          const v = view();
          return v === undefined || !v.unhealthy.has(name);
        },
        isCooling(name: string): boolean {
          const v = view();
          if (v === undefined) return false;
          if (v.cooling.has(name)) return true;
          const until = v.localCool.get(name);
          return until !== undefined && until > Date.now();
        },
        coolingUntil(name: string): number {
          const v = view();
          return Math.max(v?.cooling.get(name) ?? 0, v?.localCool.get(name) ?? 0);
        },
        trialOpen(name: string): boolean {
          const v = view();
          return v !== undefined && v.trial.has(name);
        },
        claimTrial(name: string): boolean {
          const v = view();
          if (v === undefined || !v.trial.has(name)) return false;
          v.trial.delete(name);
          v.local++;
          v.claimedHere.add(name);
          claimed.add(name);
          send({ sy: 'health.claim', id, name });
          return true;
        },
        observe(name: string, kind: PassiveKind, status: number, retryAfterMs?: number): void {
          const v = view();
          if (v === undefined || destroyed) return;
          let tell = claimed.delete(name);
          if (retryAfterMs !== undefined && retryAfterMs > 0) {
            // skipped here at once; the primary shares it with every worker
            v.localCool.set(name, Date.now() + retryAfterMs);
            v.local++;
            tell = true;
          }
          if (!tell) {
            const p = passive.get(name);
            if (p === undefined || kind === 'ignored') return;
            if (kind === 'status') {
              const k = classifyStatus(status, p.healthy.statuses, p.unhealthy.statuses);
              if (k === 'ignored') return;
              if (k === 'success' && !v.unhealthy.has(name) && !v.wary.has(name)) return;
            }
          }
          send({ sy: 'health.obs', id, name, kind, status, retryAfterMs });
        },
        get version() {
          const v = view();
          return v === undefined ? 0 : v.version + v.local;
        },
        destroy() {
          if (destroyed) return;
          destroyed = true;
          send({ sy: 'health.unreg', id });
          const n = (refs.get(key) ?? 1) - 1;
          if (n > 0) refs.set(key, n);
          else {
            refs.delete(key);
            views.delete(key);
          }
        },
      };
    },
    update(groups: HealthGroupState[]): void {
      const now = Date.now();
      for (const g of groups) {
        const v = views.get(g.key);
        if (!v) continue;
        v.version = g.version;
        v.unhealthy = g.unhealthy.length ? new Set(g.unhealthy) : EMPTY;
        v.cooling = g.cooling && g.cooling.length ? new Map(g.cooling) : NO_COOL;
        const trial = new Set(g.trial ?? []);
        // an offer of a trial claimed here is stale until a push no longer has it
        // (that push was built after the primary handled the claim)
        for (const name of v.claimedHere) {
          if (trial.has(name)) trial.delete(name);
          else v.claimedHere.delete(name);
        }
        v.trial = trial;
        v.wary = g.wary && g.wary.length ? new Set(g.wary) : EMPTY;
        for (const [name, until] of v.localCool) if (v.cooling.has(name) || until <= now) v.localCool.delete(name);
      }
    },
    report(): unknown[] {
      // GET /v1/healthcheck is answered by the primary
      return [];
    },
    close(): void {
      views.clear();
      refs.clear();
    },
  };
}
