// Converter registry, keyed by (from, to) protocol pair (R-REQ-3).
import type { Protocol } from '../protocols/types.js';
import type { Converter } from './types.js';
import { anthropicMessagesToOpenaiChat } from './anthropic-messages-to-openai-chat.js';
import { openaiEmbeddingsToVertexPredict } from './openai-embeddings-to-vertex-predict.js';
import { openaiChatToBedrockConverse } from './openai-chat-to-bedrock-converse.js';

export type { Converter, Converted, StreamConverter } from './types.js';

const byPair = new Map<string, Converter>();
const byFrom = new Map<Protocol, Converter[]>();

export function registerConverter(c: Converter): void {
  byPair.set(`${c.from}>${c.to}`, c);
  let l = byFrom.get(c.from);
  if (!l) byFrom.set(c.from, (l = []));
  l.push(c);
}

for (const c of [anthropicMessagesToOpenaiChat, openaiEmbeddingsToVertexPredict, openaiChatToBedrockConverse]) registerConverter(c);

export function getConverter(from: Protocol, to: Protocol): Converter | undefined {
  return byPair.get(`${from}>${to}`);
}

/** the converters from a client protocol, in registration order */
export function convertersFrom(from: Protocol): readonly Converter[] {
  return byFrom.get(from) ?? [];
}
