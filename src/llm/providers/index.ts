// Provider registry: one line per provider.
import type { ProviderDef, Protocol } from './types.js';
import { openai } from './openai.js';
import { deepseek } from './deepseek.js';
import { aimlapi } from './aimlapi.js';
import { anthropic } from './anthropic.js';
import { openrouter } from './openrouter.js';
import { gemini } from './gemini.js';
import { azureOpenai } from './azure-openai.js';
import { openaiCompatible } from './openai-compatible.js';
import { vertexAi } from './vertex-ai.js';

export type { ProviderDef, Protocol, ProviderConf } from './types.js';

export const providers: ReadonlyMap<string, ProviderDef> = new Map(
  [openai, deepseek, aimlapi, anthropic, openrouter, gemini, azureOpenai, openaiCompatible, vertexAi].map((p) => [p.name, p]),
);

export function getProvider(name: string): ProviderDef {
  const p = providers.get(name);
  if (!p) throw new Error(`unknown provider ${name}`);
  return p;
}

/**
 * R-REQ-3: the target protocol for a client protocol, or an error text
 * (`provider <p> does not support <proto> protocol (supported: <list>)`).
 */
export function targetProtocol(p: ProviderDef, client: Protocol): { target: Protocol; converted: boolean } | { error: string } {
  if (p.paths[client] !== undefined) return { target: client, converted: false };
  const conv = p.convert?.[client] ?? (client === 'anthropic-messages' && p.paths['openai-chat'] !== undefined ? 'openai-chat' : undefined);
  if (conv) return { target: conv, converted: true };
  return { error: `provider ${p.name} does not support ${client} protocol (supported: ${Object.keys(p.paths).join(', ')})` };
}
