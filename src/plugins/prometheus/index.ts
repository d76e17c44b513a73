// `prometheus` plugin (R-PROM-2..4): records each request of a route whose
// merged plugin set contains it, in the registry shared with the export
// listener (src/observability/metrics.ts).
import type { PluginDef } from '../../core/types.js';
import { recordRequest } from '../../observability/metrics.js';

interface PrometheusConf {
  prefer_name: boolean;
}

export const prometheus: PluginDef<PrometheusConf> = {
  name: 'prometheus',
  priority: 500,
  schema: {
    type: 'object',
    properties: {
      prefer_name: { type: 'boolean', default: false },
    },
  },
  compile(conf: { prefer_name?: boolean }) {
    return { prefer_name: conf?.prefer_name === true };
  },
  log(ctx, conf) {
    try {
      recordRequest(ctx, { preferName: conf?.prefer_name === true });
    } catch (err) {
      ctx.log.error(`prometheus: failed to record the request: ${(err as Error).message}`);
    }
  },
};
