// The interface every LLM protocol module implements (protocols/<name>.ts),
// after APISIX's ai-protocols: detection, streaming, the outgoing body,
// usage from answers and SSE events, and the stream error event (R-STR-2).
import type { UsageAcc } from '../usage.js';
import type { CountValue } from '../json-scan.js';

/** the protocol names; each is owned by its module in this folder */
export type Protocol = 'openai-chat' | 'openai-responses' | 'openai-embeddings' | 'anthropic-messages' | 'vertex-predict' | 'bedrock-converse';

/** R-STR-2 codes */
export type StreamErrorCode = 'upstream_closed' | 'upstream_timeout' | 'stream_too_long' | 'response_too_large' | 'malformed_stream';

export interface LlmProtocol {
  readonly name: Protocol;
  /**
   * R-REQ-2: the client request is in this protocol. Checked in the
   * registry's order; absent for protocols that are only sent upstream.
   */
  matches?(path: string, body: Record<string, unknown>): boolean;
  /** the client asked for a streamed answer */
  isStreaming(body: Record<string, unknown>): boolean;
  /**
   * Protocol rules for the outgoing body (e.g. ask for usage in streams).
   * `out` may be `base` itself, which must then not be modified: copy first.
   */
  prepareOutgoingRequest(out: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown>;
  /** usage and response text of a (parsed) non-streamed answer */
  extractUsage(body: any, acc: UsageAcc): void;
  /** one SSE event of a streamed answer; true at the protocol's end marker */
  parseSseEvent(event: string, data: string, acc: UsageAcc, wantText: boolean): boolean;
  /**
   * The counts of a non-streamed answer's `usage` object from the values of
   * its members `keys` (json-scan's objectCounts), exactly as extractUsage
   * sets them for `{ usage }`: the relay then reads the usage without
   * parsing it, and the raw object is parsed only when something reads it.
   */
  readonly usageCounts?: { readonly keys: readonly string[]; read(values: readonly CountValue[], acc: UsageAcc): void };
  /** an event without these bytes carries no usage (lets the relay skip parsing) */
  readonly usageNeedle?: Buffer;
  /**
   * R-USG-3: an event or answer without these bytes calls no tool; events
   * with them are parsed (parseSseEvent sets `acc.toolCalls`) until the
   * first tool call was seen. Absent: tool calls show in the usage events.
   */
  readonly toolCallNeedle?: Buffer;
  /**
   * R-USG-1: the usage this protocol's streams carry when asked for
   * (`prepareOutgoingRequest`) comes in a usage-only chunk that a client
   * which did not ask must not receive
   */
  readonly usageOnlyChunk?: boolean;
  /** R-USG-2: the completion text (content, reasoning, tool calls) of one stream event's data, pushed to `out` */
  deltaText?(data: string, out: string[]): void;
  /** R-USG-2: the completion text of a parsed non-streamed answer, pushed to `out` */
  answerText?(body: any, out: string[]): void;
  /** R-CAP-4: the body has no completion bound (embeddings) */
  readonly noMaxTokens?: boolean;
  /** R-STR-2: the final error event of a stream that cannot finish */
  streamErrorEvent(code: StreamErrorCode, message: string): string;
  /**
   * R-ERR-1: the path alone says the client speaks this protocol, for errors
   * answered before the body is read (key-auth's 401)
   */
  pathHint?(path: string): boolean;
  /**
   * R-ERR-1: the JSON body of an error the gateway itself answers with
   * `status`, in this protocol's error shape, keeping APISIX's `error_msg`
   */
  errorBody(status: number, message: string): Record<string, unknown>;
}
