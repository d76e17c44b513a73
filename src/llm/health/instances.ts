// The health targets of an ai-proxy-multi configuration, built from its
// compiled instances (R-HC-3, R-HC-4): every instance is registered, so that
// a Retry-After cool-down (R-PHC-2) is kept for it whether it has `checks` or
// not; the checks are normalised once, by the health service (conf.ts).
import type { CompileEnv } from '../../core/types.js';
import type { HealthHandle, HealthTarget } from './types.js';
import { unhealthyTimeouts } from './conf.js';

/** what a target is built from: a compiled instance (src/llm/instance.ts) */
export interface CheckedInstance {
  name: string;
  index: number;
  checks?: Record<string, unknown>;
  hostInfo?: { scheme: 'http' | 'https'; host: string; port: number };
  rawAuth?: { header?: Record<string, string>; query?: Record<string, string> };
}

/** registers the instances; undefined without a health service */
export function registerInstanceHealth(instances: readonly CheckedInstance[], env: Partial<CompileEnv> | undefined, plugin: string): HealthHandle | undefined {
  const targets: HealthTarget[] = [];
  for (const c of instances) {
    const h = c.hostInfo;
    if (c.checks && !h) env?.log?.warn(`${plugin}: instance ${c.name} has no endpoint host, no health checker`);
    // the target carries APISIX's `timeouts` resolved (R-HC-2), on the validated copy
    const u = (c.checks?.active as any)?.unhealthy;
    if (u && typeof u === 'object' && u.timeouts === undefined) u.timeouts = unhealthyTimeouts(u);
    targets.push({
      name: c.name, scheme: h?.scheme ?? 'https', host: h?.host ?? '', port: h?.port ?? 443,
      checks: h ? c.checks : undefined,
      index: c.index, plugin, auth: { header: c.rawAuth?.header, query: c.rawAuth?.query },
    });
  }
  if (targets.length === 0 || !env?.health || env.parentKey === undefined || env.confHash === undefined) return undefined;
  return env.health.register(env.parentKey, env.confHash, targets);
}
