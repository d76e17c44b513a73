// STUB (owner: admin helper): the Admin API (R-ADM, R-RES, R-SEC).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import type { ConfigStore } from '../store/types.js';

export function createAdminHandler(_deps: { config: GatewayConfig; store: ConfigStore }) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.statusCode = 404;
    res.end();
  };
}
