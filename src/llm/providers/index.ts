// Provider registry: one line per provider, in the order the plugin schemas list them.
import type { ProviderDef } from './types.js';
import { openai } from './openai.js';
import { deepseek } from './deepseek.js';
import { aimlapi } from './aimlapi.js';
import { anthropic } from './anthropic.js';
import { openrouter } from './openrouter.js';
import { gemini } from './gemini.js';
import { azureOpenai } from './azure-openai.js';
import { openaiCompatible } from './openai-compatible.js';
import { vertexAi } from './vertex-ai.js';
import { bedrock } from './bedrock.js';

export type { ProviderDef, Protocol, ProviderConf, ProviderAuth, UpstreamTarget } from './types.js';
export { targetProtocol, compileAuth } from './base.js';

export const providers: ReadonlyMap<string, ProviderDef> = new Map(
  [openai, deepseek, aimlapi, anthropic, openaiCompatible, azureOpenai, openrouter, gemini, vertexAi, bedrock].map((p) => [p.name, p]),
);

/** the provider names, for the plugin schemas' enum */
export const providerNames: readonly string[] = [...providers.keys()];

/** providers whose instances need `provider_conf` or `override` (R-APM-2) */
export const confRequiredProviders: readonly string[] = [...providers.values()].filter((p) => p.confRequired).map((p) => p.name);

export function getProvider(name: string): ProviderDef {
  const p = providers.get(name);
  if (!p) throw new Error(`unknown provider ${name}`);
  return p;
}
