// Worker side of the health checks (R-PHC-3, R-WRK-2): the checkers run in
// the primary, once per node. A worker's compiled configuration registers its
// checked instances there, and `isHealthy()` reads a local copy of the state
// the primary pushes after every change, so the per-request check stays a
// synchronous map lookup.
import type { HealthHandle, HealthService, HealthTarget } from '../core/health-types.js';
import { healthGroupKey, type HealthGroupState, type ToPrimary } from './messages.js';

interface GroupView {
  version: number;
  unhealthy: ReadonlySet<string>;
}

const ALWAYS_HEALTHY: HealthHandle = Object.freeze({ isHealthy: () => true, version: 0, destroy() {} });
const EMPTY: ReadonlySet<string> = new Set();

export interface RemoteHealth extends HealthService {
  /** the primary's `health` message */
  update(groups: HealthGroupState[]): void;
}

export function createRemoteHealth(send: (msg: ToPrimary) => void, disabled: boolean): RemoteHealth {
  let nextId = 1;
  const views = new Map<string, GroupView>();
  /** handles alive per group, so a group's view is dropped with its last handle */
  const refs = new Map<string, number>();
  return {
    register(parentKey: string, confHash: string, targets: HealthTarget[]): HealthHandle {
      if (!targets || targets.length === 0 || disabled) {
        // the primary logs R-HC-15's warning for a disabled checker once; a worker says nothing
        return ALWAYS_HEALTHY;
      }
      const id = nextId++;
      const key = healthGroupKey(parentKey, confHash);
      refs.set(key, (refs.get(key) ?? 0) + 1);
      if (!views.has(key)) views.set(key, { version: 0, unhealthy: EMPTY });
      send({ sy: 'health.reg', id, parentKey, confHash, targets });
      let destroyed = false;
      return {
        isHealthy(name: string): boolean {
          const v = views.get(key);
          return v === undefined || !v.unhealthy.has(name);
        },
        get version() {
          return views.get(key)?.version ?? 0;
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
      for (const g of groups) {
        if (!refs.has(g.key)) continue;
        views.set(g.key, { version: g.version, unhealthy: g.unhealthy.length ? new Set(g.unhealthy) : EMPTY });
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
