// Protocol registry (R-REQ-2): client protocols in detection order, then the
// protocols only sent upstream.
import type { LlmProtocol, Protocol } from './types.js';
import type { UsageAcc } from '../usage.js';
import { anthropicMessages } from './anthropic-messages.js';
import { openaiResponses } from './openai-responses.js';
import { openaiChat } from './openai-chat.js';
import { openaiEmbeddings } from './openai-embeddings.js';
import { vertexPredict } from './vertex-predict.js';
import { bedrockConverse } from './bedrock-converse.js';

export type { LlmProtocol, Protocol, StreamErrorCode } from './types.js';

// bedrock-converse before openai-chat: both bodies have `messages`, the path tells them apart
const ordered: readonly LlmProtocol[] = [anthropicMessages, openaiResponses, bedrockConverse, openaiChat, openaiEmbeddings, vertexPredict];
const byName = new Map<Protocol, LlmProtocol>(ordered.map((p) => [p.name, p]));
const clients = ordered.filter((p) => p.matches !== undefined);

/** every protocol name (the keys of `override.request_body`, R-CAP-4) */
export const protocolNames: readonly Protocol[] = ordered.map((p) => p.name);

export function getProtocol(name: Protocol): LlmProtocol {
  const p = byName.get(name);
  if (!p) throw new Error(`unknown protocol ${name}`);
  return p;
}

/** R-REQ-2: the client protocol of a request, undefined when none matches */
export function detectClientProtocol(path: string, body: unknown): LlmProtocol | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  for (let i = 0; i < clients.length; i++) if (clients[i]!.matches!(path, b)) return clients[i];
  return undefined;
}

/**
 * R-ERR-1: the protocol whose error shape a gateway error on an AI route
 * takes: the detected client protocol, else the one the parsed body (or,
 * before the body was read, the path) shows; undefined when none
 */
export function errorProtocol(detected: string | undefined, path: string, body: unknown): LlmProtocol | undefined {
  if (detected !== undefined) return byName.get(detected as Protocol);
  if (body !== undefined) return detectClientProtocol(path, body);
  for (let i = 0; i < clients.length; i++) if (clients[i]!.pathHint?.(path)) return clients[i];
  return undefined;
}

export function detectProtocol(path: string, body: unknown): Protocol | undefined {
  return detectClientProtocol(path, body)?.name;
}

/** the usage of a parsed non-streamed answer in `protocol` */
export function usageFromBody(protocol: Protocol, body: any, acc: UsageAcc): void {
  getProtocol(protocol).extractUsage(body, acc);
}

/** one SSE event of a stream in `protocol`; true at the end marker */
export function usageFromEvent(protocol: Protocol, event: string, data: string, acc: UsageAcc, wantText: boolean): boolean {
  return getProtocol(protocol).parseSseEvent(event, data, acc, wantText);
}
