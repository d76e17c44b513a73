// `prometheus` plugin (R-PROM-2..4): records each request of a route whose
// merged plugin set contains it, in the gateway's registry, which the export
// listener serves (src/observability/metrics.ts).
import type { PluginDef, RequestMetrics } from '../../core/types.js';

interface PrometheusConf {
  prefer_name: boolean;
  metrics: RequestMetrics;
}

const PREFER_NAME = { preferName: true };
const PREFER_ID = { preferName: false };

export const prometheus: PluginDef<PrometheusConf> = {
  name: 'prometheus',
  priority: 500,
  schema: {
    type: 'object',
    properties: {
      prefer_name: { type: 'boolean', default: false },
    },
  },
  compile(conf: { prefer_name?: boolean }, env) {
    return { prefer_name: conf?.prefer_name === true, metrics: env.metrics };
  },
  log(ctx, conf) {
    try {
      conf.metrics.recordRequest(ctx, conf.prefer_name ? PREFER_NAME : PREFER_ID);
    } catch (err) {
      ctx.log.error(`prometheus: failed to record the request: ${(err as Error).message}`);
    }
  },
};
