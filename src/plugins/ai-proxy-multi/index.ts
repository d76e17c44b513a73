// ai-proxy-multi (R-APM, R-PRV, R-REQ, R-BAL, R-FB, R-RSP): the engine lives
// in src/llm/engine.ts; this file is the APISIX-style plugin object.
import type { PluginDef } from '../../core/types.js';
import { LlmEngine } from '../../llm/engine.js';
import { schema, check } from './schema.js';

export const aiProxyMulti: PluginDef<LlmEngine> = {
  name: 'ai-proxy-multi',
  priority: 1041,
  schema,
  check: (conf) => check(conf),
  compile: (conf, env) => new LlmEngine(conf, env, { plugin: 'ai-proxy-multi' }),
  destroy: (engine) => engine.destroy(),
  access: (ctx, engine) => engine.access(ctx),
  proxy: (ctx, engine) => engine.proxy(ctx),
};
