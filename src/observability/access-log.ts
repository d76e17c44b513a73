// STUB (owner: observability helper): the access log (R-ALOG).
import type { GatewayConfig } from '../config/types.js';
import type { RequestContext } from '../core/types.js';
import type { Logger } from '../core/log.js';

export interface AccessLog {
  /** called once per proxy request after the log phase */
  write(ctx: RequestContext): void;
  close(): Promise<void>;
}

export function createAccessLog(_http: GatewayConfig['nginx_config']['http'], _log: Logger): AccessLog {
  return { write() {}, async close() {} };
}
