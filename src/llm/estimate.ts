// R-USG-2: when an answer carries no usage (the provider ignores
// `stream_options`, the client disconnected, the stream broke), the usage is
// estimated with the tokenizer (src/llm/tokens.ts): prompt tokens from the
// request, completion tokens from the text relayed so far (content deltas
// and tool-call arguments; a non-streamed answer: its whole text). Only called after the answer ended without
// usage, so answers that carry their usage never load the tokenizer.
import type { LlmProtocol } from './protocols/index.js';
import type { RequestContext } from '../core/types.js';
import { SseParser } from './sse.js';
import { AwsEventStreamParser } from './aws-eventstream.js';
import { countTextTokens, promptText } from './tokens.js';

/** a parser of stream chunks in `protocol` (SSE, or AWS event-stream frames when `aws`) pushing each event's completion text to `out` */
function textParser(protocol: LlmProtocol, aws: boolean, out: string[]): SseParser | AwsEventStreamParser {
  const f = protocol.deltaText;
  const onEvent = f === undefined ? () => {} : (ev: { data: string }) => f(ev.data, out);
  // a broken message ends the text: nothing after it was relayed (R-STR-2)
  return aws ? new AwsEventStreamParser(onEvent) : new SseParser(onEvent);
}

/** the completion text of stream chunks in `protocol` (SSE, or AWS event-stream frames when `aws`) as relayed */
export function streamText(protocol: LlmProtocol, chunks: Buffer[], aws = false): string {
  if (protocol.deltaText === undefined) return '';
  const out: string[] = [];
  const p = textParser(protocol, aws, out);
  for (const c of chunks) p.push(c);
  p.end();
  return out.join('');
}

/**
 * What a stream relayed, kept for R-USG-2 until it shows its usage: the
 * chunks themselves (references, nothing parsed) while they are few, and
 * once they pass `keepBytes`, their completion text, with every later chunk
 * parsed for its text as it arrives. A stream that carries its usage at the
 * end (OpenAI's include_usage) is kept whole until then; the bound keeps a
 * long answer's memory to its text (a few percent of its SSE bytes) instead
 * of every byte relayed.
 */
export class RelayedText {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private parser: SseParser | AwsEventStreamParser | undefined = undefined;
  private out: string[] = [];

  constructor(private readonly protocol: LlmProtocol, private readonly aws = false, private readonly keepBytes = RELAYED_KEEP_BYTES) {}

  push(chunk: Buffer): void {
    if (this.parser !== undefined) {
      this.parser.push(chunk);
      return;
    }
    this.chunks.push(chunk);
    if ((this.bytes += chunk.length) > this.keepBytes) this.toText();
  }

  /** the usage was seen: nothing needs estimating */
  clear(): void {
    if (this.bytes === 0 && this.parser === undefined) return;
    this.chunks = [];
    this.bytes = 0;
    this.parser = undefined;
    this.out = [];
  }

  /** bytes held as chunks (0 once they were turned into text) */
  get keptBytes(): number {
    return this.bytes;
  }

  /** anything was relayed since the last clear() */
  get any(): boolean {
    return this.bytes > 0 || this.parser !== undefined;
  }

  /** the completion text relayed so far (as streamText gives it for all the chunks) */
  text(): string {
    if (this.parser === undefined) return streamText(this.protocol, this.chunks, this.aws);
    this.parser.end();
    this.parser = undefined;
    return this.out.join('');
  }

  private toText(): void {
    const p = textParser(this.protocol, this.aws, this.out);
    for (const c of this.chunks) p.push(c);
    this.chunks = [];
    this.bytes = 0;
    this.parser = p;
  }
}

/** RelayedText keeps a stream's chunks up to this many bytes, then their text */
export const RELAYED_KEEP_BYTES = 32 * 1024;

/** the completion text of a whole JSON answer */
export function bodyText(protocol: LlmProtocol, buf: Buffer): string {
  if (protocol.answerText === undefined) return '';
  let j: unknown;
  try { j = JSON.parse(buf.toString('utf8')); } catch { return ''; }
  const out: string[] = [];
  protocol.answerText(j, out);
  return out.join('');
}

export interface EstimatedUsage {
  prompt: number;
  completion: number;
}

/** R-USG-2: prompt tokens of `requestBody` and completion tokens of `completionText` for `model` */
export async function estimateUsage(model: string | undefined, requestBody: unknown, completionText: string): Promise<EstimatedUsage> {
  const [prompt, completion] = await Promise.all([
    countTextTokens(model, promptText(requestBody)),
    countTextTokens(model, completionText),
  ]);
  return { prompt, completion };
}

/**
 * R-USG-2 for a stream that ended without usage: estimate from the request
 * and the relayed chunks, publish it on ctx.llm (with a raw usage object in
 * OpenAI's shape, so cost_expr and the loggers read it) and mark it
 * `usage_source: estimated`. Runs after the client's answer ended, before
 * the log phase.
 */
export function applyRelayedEstimate(ctx: RequestContext, requestBody: unknown, relayed: RelayedText): Promise<void> {
  return applyEstimateOf(ctx, requestBody, relayed.text());
}

/** R-USG-2 for a non-streamed answer without usage: as applyRelayedEstimate, from the whole body */
export function applyBodyEstimate(ctx: RequestContext, requestBody: unknown, protocol: LlmProtocol, body: Buffer): Promise<void> {
  return applyEstimateOf(ctx, requestBody, bodyText(protocol, body));
}

// One estimate per turn of the event loop: when many streams are cut at once
// (a load balancer drops its connections; ~200 µs of tokenizer each), the
// gateway serves I/O between them instead of stalling for all of them.
const waiting: Array<() => void> = [];
let draining = false;

function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    if (!draining) {
      draining = true;
      setImmediate(drainOne);
    }
  });
}

function drainOne(): void {
  waiting.shift()?.();
  if (waiting.length > 0) setImmediate(drainOne);
  else draining = false;
}

async function applyEstimateOf(ctx: RequestContext, requestBody: unknown, completionText: string): Promise<void> {
  const llm = ctx.llm;
  try {
    await nextTurn();
    const est = await estimateUsage(llm.model || undefined, requestBody, completionText);
    llm.promptTokens = est.prompt;
    llm.completionTokens = est.completion;
    llm.totalTokens = est.prompt + est.completion;
    llm.rawUsage = { prompt_tokens: est.prompt, completion_tokens: est.completion, total_tokens: est.prompt + est.completion };
    llm.usageSource = 'estimated';
  } catch (err) {
    ctx.log.error(`estimating token usage failed: ${(err as Error).message}`);
  }
}
