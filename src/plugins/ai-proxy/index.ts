// ai-proxy (R-AP): a one-instance ai-proxy-multi whose instance is named
// `ai-proxy-<provider>` (R-AP-4). R-PIPE-9: when ai-proxy-multi is in the
// request's plugin list, ai-proxy does nothing.
import type { PluginDef, RequestContext } from '../../core/types.js';
import { LlmEngine } from '../../llm/engine.js';
import { schema, check } from './schema.js';
import { limitProps } from '../ai-proxy-multi/schema.js';

/** the equivalent ai-proxy-multi configuration */
export function toMultiConf(conf: any): any {
  const instance: Record<string, unknown> = {
    name: `ai-proxy-${conf.provider}`,
    provider: conf.provider,
    weight: 1,
    priority: 0,
    auth: conf.auth,
  };
  if (conf.provider_conf) instance.provider_conf = conf.provider_conf;
  if (conf.options) instance.options = conf.options;
  if (conf.override) instance.override = conf.override;
  if (conf.pricing) instance.pricing = conf.pricing;
  const multi: Record<string, unknown> = {
    instances: [instance],
    logging: conf.logging,
    timeout: conf.timeout,
    keepalive: conf.keepalive,
    keepalive_timeout: conf.keepalive_timeout,
    keepalive_pool: conf.keepalive_pool,
    ssl_verify: conf.ssl_verify,
  };
  for (const k of Object.keys(limitProps)) if (conf[k] !== undefined) multi[k] = conf[k];
  return multi;
}

const multiPresent = (ctx: RequestContext) => ctx.plugins.some((p) => p.def.name === 'ai-proxy-multi');

export const aiProxy: PluginDef<LlmEngine> = {
  name: 'ai-proxy',
  priority: 1040,
  schema,
  check: (conf) => check(conf),
  compile: (conf, env) => new LlmEngine(toMultiConf(conf), env, { plugin: 'ai-proxy' }),
  destroy: (engine) => engine.destroy(),
  access: (ctx, engine) => (multiPresent(ctx) ? undefined : engine.access(ctx)),
  proxy: (ctx, engine) => (multiPresent(ctx) ? undefined : engine.proxy(ctx)),
};
