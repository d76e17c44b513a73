// The Prometheus export listener (R-PROM-1): `GET <export_uri>` answers the
// gateway's registry in the text exposition format 0.0.4; any other path 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import type { HealthService } from '../core/health-types.js';
import { sendReply } from '../core/respond.js';
import { pageError } from '../core/errors.js';
import type { Metrics } from './metrics.js';

export interface MetricsHandlerOptions {
  /** source of `apisix_upstream_status` (health-check targets) */
  health?: Pick<HealthService, 'report'>;
  /**
   * the exposition text; default: this process's registry. With proxy
   * workers the primary passes the sum over every worker (R-WRK-2).
   */
  collect?: (own: Metrics) => Promise<string>;
}

/** `m`: the gateway's registry (createMetrics with plugin_attr.prometheus) */
export function createMetricsHandler(prom: GatewayConfig['plugin_attr']['prometheus'], m: Metrics, opts: MetricsHandlerOptions = {}) {
  if (opts.health) m.healthSource = opts.health;
  const uri = prom?.export_uri || '/apisix/prometheus/metrics';
  const collect = opts.collect ?? ((own: Metrics) => own.registry.metrics());
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== uri || (req.method !== 'GET' && req.method !== 'HEAD')) {
      sendReply(res, pageError(404));
      return;
    }
    collect(m).then(
      (text) => {
        res.statusCode = 200;
        res.setHeader('Content-Type', m.registry.contentType);
        res.setHeader('Content-Length', Buffer.byteLength(text));
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: Error) => {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end(`failed to collect metrics: ${err.message}`);
      },
    );
  };
}
