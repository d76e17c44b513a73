// Every plugin switchyard implements, one line each (R-ADM-50).
import type { PluginDef } from '../core/types.js';
import { keyAuth } from './key-auth/index.js';
import { aiProxyMulti } from './ai-proxy-multi/index.js';
import { aiProxy } from './ai-proxy/index.js';
import { aiRateLimiting } from './ai-rate-limiting/index.js';
import { prometheus } from './prometheus/index.js';
import { httpLogger } from './http-logger/index.js';
import { kafkaLogger } from './kafka-logger/index.js';
import { fileLogger } from './file-logger/index.js';

const all: PluginDef[] = [keyAuth, aiProxyMulti, aiProxy, aiRateLimiting, prometheus, httpLogger, kafkaLogger, fileLogger];

/** plugins by descending priority */
export const pluginList: readonly PluginDef[] = [...all].sort((a, b) => b.priority - a.priority);
export const plugins: ReadonlyMap<string, PluginDef> = new Map(pluginList.map((p) => [p.name, p]));

export function getPlugin(name: string): PluginDef | undefined {
  return plugins.get(name);
}

/** R-SEC-10: a plugin's `encrypt_fields` (Consumers and Credentials use its consumer schema when it has one, as APISIX) */
const encryptFields = new Map<string, { route?: readonly string[]; consumer?: readonly string[] }>(
  pluginList.map((p) => {
    const of = (s: unknown) => (s as { encrypt_fields?: readonly string[] } | undefined)?.encrypt_fields;
    return [p.name, { route: of(p.schema), consumer: of(p.consumerSchema ?? p.schema) }];
  }),
);

export function encryptFieldsOf(name: string, schemaType: 'route' | 'consumer'): readonly string[] | undefined {
  return encryptFields.get(name)?.[schemaType];
}
