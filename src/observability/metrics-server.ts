// STUB (owner: observability helper): the Prometheus export listener (R-PROM).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';

export function createMetricsHandler(_prom: GatewayConfig['plugin_attr']['prometheus']) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.statusCode = 404;
    res.end();
  };
}
