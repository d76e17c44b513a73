// STUB (owner: health-check helper): active health checks (R-HC).
import type { HealthService } from './types.js';
import type { SharedState } from '../../state/types.js';
import type { Logger } from '../../core/log.js';

export function createHealthService(_opts: { state: SharedState; disabled: boolean; log: Logger }): HealthService {
  return {
    register() {
      return { isHealthy: () => true, version: 0, destroy() {} };
    },
    report() { return []; },
    close() {},
  };
}
