// STUB (owner: config/CLI/store helper): pick the store for config_provider.
import type { GatewayConfig } from '../config/types.js';
import type { ConfigStore } from './types.js';

export function createStore(_config: GatewayConfig): ConfigStore {
  throw new Error('not implemented');
}
