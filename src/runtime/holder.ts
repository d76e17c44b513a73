// STUB (owner: proxy/runtime helper): holds the current compiled Runtime and
// swaps it atomically on every store change (R-GEN-10).
import type { ConfigStore } from '../store/types.js';
import type { SharedState } from '../state/types.js';
import type { HealthService } from '../llm/health/types.js';
import type { Logger } from '../core/log.js';

export interface RuntimeEnv {
  state: SharedState;
  health: HealthService;
  log: Logger;
}

export class RuntimeHolder {
  constructor(readonly store: ConfigStore, readonly env: RuntimeEnv) {}
  close(): void {}
}
