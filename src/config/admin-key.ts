// STUB (owner: config/CLI helper): R-GEN-14 admin key bootstrap.
import type { GatewayConfig } from './types.js';

export function ensureAdminKeys(_config: GatewayConfig, _print: (line: string) => void): void {}
