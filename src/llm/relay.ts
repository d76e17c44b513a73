// Relaying one attempt's answer to the client: a buffered body (R-RSP-2..5)
// or a stream (R-RSP-10..16), unchanged or through the attempt's converter;
// a stream that cannot finish ends with an error event (R-STR-2).
import type { RequestContext, Reply, LlmState, UsageFields } from '../core/types.js';
import type { LlmProtocol } from './protocols/index.js';
import type { Converter } from './converters/index.js';
import type { CompiledInstance } from './instance.js';
import { classifyError, type ResponseSink, type UpstreamCall } from './transport.js';
import { SseParser, followedByNull, type SseEvent } from './sse.js';
import { AwsEventStreamParser, isAwsEventStream } from './aws-eventstream.js';
import { newUsage, type UsageAcc } from './usage.js';
import { objectCounts, topLevelMember, topLevelMemberSpan } from './json-scan.js';
import { UsageChunkStripper, clientAskedUsage } from './usage-strip.js';
import { RelayedText, applyBodyEstimate, applyRelayedEstimate } from './estimate.js';
import { AttemptAbort, streamErrorCode, streamErrorReason } from './attempt-abort.js';
import { Deadline } from '../core/deadlines.js';
import { pageError } from '../core/errors.js';
import type { StreamErrorCode } from './protocols/types.js';

export type AttemptResult =
  | { kind: 'done' }
  | { kind: 'reply'; reply: Reply }
  | { kind: 'failed'; status: number; fallback: Reply };

/** the attempt relayed a response (or the client left): shared, never modified */
export const DONE: AttemptResult = Object.freeze({ kind: 'done' });

/** what the relay needs from the engine that runs the attempt */
export interface AttemptHost {
  readonly opts: { plugin: string };
  readonly logPayloads: boolean;
  /** R-CAP-2 */
  readonly maxStreamMs?: number;
  /** R-CAP-3 */
  readonly maxResponseBytes?: number;
  /** the result of a transport failure (falls back when allowed and the strategy covers it) */
  transportFailure(status: 500 | 504, may: boolean, t0?: number): AttemptResult;
}

/** R-RTY-4 outcomes: `ok`, an HTTP status, or one of these */
export type AttemptOutcome = string;

/** R-RTY-4: one attempt (or skipped instance) in the request's trail */
export function recordAttempt(ctx: RequestContext, instance: string, outcome: AttemptOutcome, ms: number): void {
  const llm = ctx.llm;
  const rec = { instance, outcome, ms };
  if (llm.attempts === undefined) llm.attempts = [rec];
  else llm.attempts.push(rec);
}

export function failureOutcome(kind: 'timeout' | 'error', err?: unknown): AttemptOutcome {
  if (err instanceof AttemptAbort) return err.kind === 'ttft_timeout' ? 'ttft_timeout' : err.kind === 'response_too_large' ? '502' : 'timeout';
  return kind === 'timeout' ? 'timeout' : 'connect_error';
}

/** R-CAP-3: an answer past max_response_bytes is 502, not a fallback */
const TOO_LARGE: AttemptResult = Object.freeze({ kind: 'reply', reply: Object.freeze(pageError(502)) });

/** the result of an attempt that failed before anything reached the client */
function failedBeforeSending(host: AttemptHost, err: unknown, status: 500 | 504, may: boolean, t0: number): AttemptResult {
  if (err instanceof AttemptAbort && err.kind === 'response_too_large') return TOO_LARGE;
  return host.transportFailure(status, may, t0);
}

function tooLarge(io: Io): AttemptAbort {
  return new AttemptAbort('response_too_large', `the answer exceeded max_response_bytes (${io.host.maxResponseBytes} bytes)`);
}

/** R-CAP-2 */
function streamTooLong(io: Io): void {
  io.call.abort(new AttemptAbort('stream_too_long', `the answer exceeded max_stream_duration_ms (${io.host.maxStreamMs} ms)`));
}

/** one attempt's answer */
export interface Io {
  host: AttemptHost;
  ctx: RequestContext;
  inst: CompiledInstance;
  /** the client's protocol */
  client: LlmProtocol;
  /** the protocol sent upstream */
  target: LlmProtocol;
  converter?: Converter;
  status: number;
  contentType: string | undefined;
  call: UpstreamCall;
  t0: number;
  /** the attempt ended with `status`: its R-VAR-4 record, passive health and R-RTY-4 trail (the first call counts) */
  finishRec(status: number, outcome?: AttemptOutcome): void;
  /** the client went away */
  isGone(): boolean;
  /** a further attempt is allowed (R-RTY-2) */
  mayFallBack: boolean;
  /** ms of silence after which undici fails the body read (R-STR-3, R-REQ-10) */
  idleMs: number;
  /** R-STR-1: armed until the first response byte; the stream head is held back while it is */
  ttft?: Deadline<UpstreamCall>;
}

/**
 * The relayed response's own headers; the context's writer adds `Server`
 * and the extra headers (R-RL-13 quotas).
 */
function responseHeaders(contentType: string | undefined, length?: number): Record<string, string | number> {
  const h: Record<string, string | number> = {};
  if (contentType !== undefined) h['content-type'] = contentType;
  if (length !== undefined) h['content-length'] = length;
  return h;
}

function publishUsage(ctx: RequestContext, acc: UsageAcc, streamed: boolean): void {
  const llm = ctx.llm;
  llm.promptTokens = acc.prompt;
  llm.completionTokens = acc.completion;
  llm.totalTokens = acc.total;
  llm.rawUsage = acc.seen ? acc.raw : undefined;
  if (acc.toolCalls === true) llm.hasToolCalls = true;
  if (!streamed || acc.seen) llm.responseText = acc.textAtUsage;
}

const USAGE_KEY = Buffer.from('"usage"');

/** a JSON answer without a `usage` member, or with `"usage": null` (a byte search, no parse) */
function lacksUsage(buf: Buffer): boolean {
  const at = buf.indexOf(USAGE_KEY);
  return at < 0 || followedByNull(buf, at + USAGE_KEY.length);
}

/** the answer is a stream: SSE, or AWS event-stream frames (R-BDR-1) */
export function isEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && (contentType.includes('text/event-stream') || isAwsEventStream(contentType));
}

/** R-RSP-2..5: read the whole body, then relay it unchanged (or converted) */
export function relayBody(io: Io): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => io.call.pipe(new BodyRead(io, resolve)));
}

/**
 * The sink of one buffered answer: collects its chunks, then relays it. A
 * class rather than a handler literal and closures, since one is made per
 * request.
 */
class BodyRead implements ResponseSink {
  private readonly chunks: Buffer[] = [];
  /** bytes read; -1 once max_response_bytes stopped the read */
  private size = 0;

  constructor(private readonly io: Io, private readonly resolve: (r: AttemptResult | PromiseLike<AttemptResult>) => void) {}

  data(c: Buffer): void {
    if (this.size < 0) return;
    this.size += c.length;
    const max = this.io.host.maxResponseBytes;
    if (max !== undefined && this.size > max) {
      // R-CAP-3: read no further
      this.size = -1;
      this.chunks.length = 0;
      this.io.call.abort(tooLarge(this.io));
      return;
    }
    this.chunks.push(c);
  }

  end(): void {
    // the abort came after undici had the whole body
    if (this.size < 0) return this.error(tooLarge(this.io));
    const chunks = this.chunks;
    this.resolve(relayWhole(this.io, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size)));
  }

  error(e: unknown): void {
    const io = this.io;
    if (io.isGone()) {
      io.finishRec(499);
      return this.resolve(DONE);
    }
    const c = classifyError(e);
    io.finishRec(c.kind === 'timeout' ? 504 : 502, failureOutcome(c.kind, e));
    io.ctx.log.error(`${io.host.opts.plugin}: instance ${io.inst.name}: reading upstream response failed: ${c.message}`);
    this.resolve(failedBeforeSending(io.host, e, c.status, io.mayFallBack, io.t0));
  }
}

const resolveDone = (): AttemptResult => DONE;

/** the whole answer `buf` read: relay it unchanged or converted, and publish (or defer) its usage */
function relayWhole(io: Io, buf: Buffer): AttemptResult | Promise<AttemptResult> {
  const { ctx, target, converter, status, contentType, t0 } = io;
  const ms = Math.round(performance.now() - t0);
  io.finishRec(status);
  const llm = ctx.llm;
  llm.timeToFirstTokenMs = ms;
  llm.upstreamResponseTimeMs = ms;
  const res = ctx.res;
  const converting = converter !== undefined && status >= 200 && status < 300;
  const lazy = llm as LlmState & { deferUsage?: (compute: () => UsageFields, computeText?: () => string | undefined) => void };
  if (lazy.deferUsage !== undefined && !converting) {
    // relayed unchanged: the usage is only needed when something reads
    // it (loggers, metrics, ai-rate-limiting), so parse the body then
    lazy.deferUsage(() => usageOfBody(target, buf), () => usageOfBody(target, buf, true).responseText);
    if (!res.headersSent && !res.destroyed) {
      ctx.status = status;
      ctx.writeHead(status, responseHeaders(contentType, buf.length));
      ctx.end(buf);
    }
    // R-USG-2: an answer without usage is estimated (a byte search; a
    // usage member present is parsed only when read)
    if (status >= 200 && status < 300 && target.answerText !== undefined && ctx.usageRead !== false && lacksUsage(buf)) {
      return applyBodyEstimate(ctx, ctx.parsedBody, target, buf).then(resolveDone, resolveDone);
    }
    return DONE;
  }
  const acc = newUsage();
  let parsed: any;
  if (firstNonSpace(buf) === 0x7b /* { */) {
    try { parsed = JSON.parse(buf.toString('utf8')); } catch { parsed = undefined; }
  }
  let outBuf = buf;
  let outType = contentType;
  if (parsed !== undefined) {
    target.extractUsage(parsed, acc);
    if (converting) {
      const conv = converter!.response(parsed, llm.model);
      if (!conv.ok) {
        publishUsage(ctx, acc, false);
        return { kind: 'reply', reply: conv.reply };
      }
      outBuf = Buffer.from(JSON.stringify(conv.body));
      outType = 'application/json';
      if (converter!.usageFromClientBody) {
        const acc2 = newUsage();
        io.client.extractUsage(conv.body, acc2);
        acc.prompt = acc2.prompt; acc.completion = 0; acc.total = acc2.total; acc.raw = acc2.raw; acc.seen = acc2.seen;
      }
    }
  }
  publishUsage(ctx, acc, false);
  if (!res.headersSent && !res.destroyed) {
    ctx.status = status;
    ctx.writeHead(status, responseHeaders(outType, outBuf.length));
    ctx.end(outBuf);
  }
  // R-USG-2: no usage in the answer: estimate it
  if (!acc.seen && parsed !== undefined && status >= 200 && status < 300 && target.answerText !== undefined && ctx.usageRead !== false) {
    return applyBodyEstimate(ctx, ctx.parsedBody, target, buf).then(resolveDone, resolveDone);
  }
  return DONE;
}

/** R-RSP-10..16: relay chunks as they arrive, parse SSE alongside */
export function relayStream(io: Io): Promise<AttemptResult> {
  const { host, ctx, inst, target, status, contentType, call, t0 } = io;
  const res = ctx.res;
  const llm = ctx.llm;
  const acc = newUsage();
  const wantText = host.logPayloads;
  const converter = io.converter?.stream ? io.converter.stream(llm.model) : undefined;
  const clientBody = ctx.parsedBody as Record<string, unknown>;
  // R-USG-1: the usage chunk asked for upstream is not relayed to a client that did not ask
  const strip = !converter && target.usageOnlyChunk === true && !clientAskedUsage(clientBody) ? new UsageChunkStripper() : undefined;
  const aws = isAwsEventStream(contentType);
  const ok = status >= 200 && status < 300;
  // R-USG-2: what was relayed, kept until the stream shows its usage (when something reads it)
  const kept = ok && ctx.usageRead !== false ? new RelayedText(target, aws) : undefined;
  let pendingOut = '';
  const onEvent = (ev: SseEvent) => {
    target.parseSseEvent(ev.event, ev.data, acc, wantText || !!converter);
    if (converter) pendingOut += converter.push(ev.data, ev.event);
  };
  // R-STR-2: bad framing or checksums (R-BDR-1) end the stream as malformed
  let broken: Error | undefined;
  const parser = aws
    ? new AwsEventStreamParser(onEvent, (err) => {
      broken = err;
      // no byte after a broken message is relayed (received < 0 marks the aborted read)
      received = -1;
      call.abort(err);
    })
    : new SseParser(onEvent);
  // what an event must contain to matter when only the usage is read
  const skipNeedle = !wantText && !converter ? target.usageNeedle : undefined;
  // R-USG-3: events that may call a tool are parsed until one did (when
  // anything reads the usage: $llm_has_tool_calls is read with it)
  const toolNeedle = ctx.usageRead !== false ? target.toolCallNeedle : undefined;
  let headWritten = false;
  const writeHead = () => {
    if (headWritten) return;
    headWritten = true;
    ctx.status = status;
    ctx.writeHead(status, responseHeaders(converter ? io.converter!.streamContentType ?? 'text/event-stream' : contentType));
    ctx.flushHeadSoon();
  };
  // R-STR-1: with a first-byte deadline the head waits for the first byte
  if (!converter && io.ttft === undefined) writeHead();
  let first = true;
  const maxBytes = host.maxResponseBytes;
  let received = 0;
  let waitingDrain = false;
  const onDrain = () => {
    waitingDrain = false;
    call.resume();
  };
  // the last bytes relayed: the error event must not be glued to a partial event
  let lastOut: Buffer | string = '\n\n';
  const write = (data: Buffer | string) => {
    if (res.destroyed) return;
    if (data.length > 0) lastOut = data;
    if (!ctx.write(data) && !waitingDrain) {
      waitingDrain = true;
      call.pause();
      res.once('drain', onDrain);
    }
  };
  /**
   * R-STR-2 (supersedes R-RSP-15's bare close): one final error event in the
   * client's protocol, then the terminating chunk; no `[DONE]`
   */
  const endWithErrorEvent = (code: StreamErrorCode, err: unknown) => {
    llm.streamError = code;
    if (res.destroyed) return;
    const reason = code === 'upstream_timeout' && !(err instanceof AttemptAbort)
      ? `the upstream sent nothing for ${io.idleMs} ms` : streamErrorReason(code, err);
    const ev = io.client.streamErrorEvent(code, reason);
    // a protocol without a text error event (binary framing) just ends
    if (ev !== '') ctx.write(endsEvent(lastOut) ? ev : '\n\n' + ev);
    publishUsage(ctx, acc, true);
    ctx.end();
  };
  // R-CAP-2: measured from sending the request
  const maxMs = host.maxStreamMs;
  const tooLong = maxMs !== undefined ? new Deadline(Math.max(1, maxMs - (performance.now() - t0)), streamTooLong, io).start() : undefined;
  return new Promise<AttemptResult>((resolve) => {
    const done = (r: AttemptResult) => {
      tooLong?.cancel();
      publishUsage(ctx, acc, true);
      res.off('drain', onDrain);
      // R-USG-2: no usage in the stream (ignored stream_options, client left, stream broke): estimate
      if (!acc.seen && kept !== undefined && kept.any) applyRelayedEstimate(ctx, clientBody, kept).then(() => resolve(r), () => resolve(r));
      else resolve(r);
    };
    const sink: ResponseSink = {
      data(chunk) {
        if (received < 0) return;
        if (maxBytes !== undefined && (received += chunk.length) > maxBytes) {
          // R-CAP-3: this chunk is not relayed; received < 0 marks the aborted read
          received = -1;
          call.abort(tooLarge(io));
          return;
        }
        if (first) {
          first = false;
          llm.timeToFirstTokenMs = Math.round(performance.now() - t0);
          if (io.ttft !== undefined) {
            io.ttft.cancel();
            if (!converter) writeHead();
          }
        }
        if (kept !== undefined) {
          if (!acc.seen) kept.push(chunk);
          else kept.clear();
        }
        if (converter) {
          parser.push(chunk);
          if (pendingOut) {
            writeHead();
            const o = pendingOut;
            pendingOut = '';
            write(o);
          }
        } else {
          if (strip === undefined) write(chunk);
          else {
            const out = strip.push(chunk);
            if (out !== undefined) write(out);
          }
          // events without usage are not parsed unless their text is wanted
          // (or they may show the answer's first tool call)
          if (skipNeedle === undefined || !parser.canSkip(chunk, skipNeedle)
            || (toolNeedle !== undefined && acc.toolCalls !== true && chunk.indexOf(toolNeedle) >= 0)) parser.push(chunk);
        }
      },
      end: () => {
        // the abort came after undici had the whole body
        if (received < 0) return sink.error(broken ?? tooLarge(io));
        parser.end();
        // the stream ended inside a message
        if (broken !== undefined) return sink.error(broken);
        llm.upstreamResponseTimeMs = Math.round(performance.now() - t0);
        if (!converter) {
          writeHead();
          const rest = strip?.end();
          if (rest !== undefined) write(rest);
          // R-STR-2: a 2xx SSE body that ends inside an event was cut short,
          // and an SSE client drops that partial event without a word
          if (ok && !aws && !endsEvent(lastOut)) {
            io.finishRec(502);
            ctx.log.error(`${host.opts.plugin}: instance ${inst.name}: the upstream stream ended inside an event`);
            endWithErrorEvent('malformed_stream', undefined);
            return done(DONE);
          }
        }
        io.finishRec(status);
        if (converter) {
          const tail = converter.end();
          if (typeof tail !== 'string') {
            if (!headWritten) return done({ kind: 'reply', reply: tail });
            ctx.log.error(`${host.opts.plugin}: instance ${inst.name}: the upstream stream could not be converted after the response started`);
            endWithErrorEvent('malformed_stream', undefined);
            return done(DONE);
          } else if (tail) {
            writeHead();
            write(tail);
          }
          writeHead();
        }
        // the usage is known before the last byte (ctx.beforeEnd may settle on it)
        publishUsage(ctx, acc, true);
        if (!res.destroyed) ctx.end();
        done(DONE);
      },
      error: (e) => {
        llm.upstreamResponseTimeMs = Math.round(performance.now() - t0);
        if (io.isGone()) {
          io.finishRec(status);
          return done(DONE);
        }
        const c = classifyError(e);
        io.finishRec(c.kind === 'timeout' ? 504 : 502, broken !== undefined ? '502' : failureOutcome(c.kind, e));
        if (!headWritten) {
          ctx.log.error(`${host.opts.plugin}: instance ${inst.name}: reading upstream stream failed: ${c.message}`);
          return done(failedBeforeSending(host, e, c.status, io.mayFallBack, t0));
        }
        ctx.log.error(`${host.opts.plugin}: instance ${inst.name}: upstream stream failed after the response started: ${c.message}`);
        endWithErrorEvent(broken !== undefined ? 'malformed_stream' : streamErrorCode(e), broken ?? e);
        done(DONE);
      },
    };
    call.pipe(sink);
  });
}

/** `b` ends at an SSE event boundary (a blank line) */
function endsEvent(b: Buffer | string): boolean {
  const n = b.length;
  if (n < 2) return false;
  const at = (i: number) => (typeof b === 'string' ? b.charCodeAt(i) : b[i]!);
  return at(n - 1) === 0x0a && (at(n - 2) === 0x0a || (n >= 4 && at(n - 2) === 0x0d && at(n - 3) === 0x0a));
}

/**
 * The usage fields publishUsage(ctx, acc, false) sets for a relayed JSON
 * body. Without `withText` only the top-level `usage` member is parsed
 * (responseText is then left undefined).
 */
function usageOfBody(target: LlmProtocol, buf: Buffer, withText = false): UsageFields {
  const acc = newUsage();
  // an answer that may call tools is parsed whole (R-USG-3)
  const tools = target.toolCallNeedle !== undefined && buf.indexOf(target.toolCallNeedle) >= 0;
  if (!withText && !tools) {
    const counted = target.usageCounts !== undefined ? countedUsage(target, buf) : undefined;
    if (counted !== undefined) return counted;
    const scan = topLevelMember(buf, 'usage');
    if (scan.ok) {
      if (scan.found) target.extractUsage({ usage: scan.value }, acc);
      return { promptTokens: acc.prompt, completionTokens: acc.completion, totalTokens: acc.total, rawUsage: acc.seen ? acc.raw : undefined };
    }
  }
  if (firstNonSpace(buf) === 0x7b /* { */) {
    let parsed: unknown;
    try { parsed = JSON.parse(buf.toString('utf8')); } catch { parsed = undefined; }
    if (parsed !== undefined) target.extractUsage(parsed, acc);
  }
  return {
    promptTokens: acc.prompt,
    completionTokens: acc.completion,
    totalTokens: acc.total,
    rawUsage: acc.seen ? acc.raw : undefined,
    responseText: acc.textAtUsage,
    hasToolCalls: acc.toolCalls === true,
  };
}

/**
 * The usage of a JSON answer from its `usage` member's counts, without
 * parsing it (protocols with `usageCounts`); the raw object is parsed when
 * first read. Undefined when the scan cannot tell: then it is parsed.
 */
function countedUsage(target: LlmProtocol, buf: Buffer): UsageFields | undefined {
  const span = topLevelMemberSpan(buf, 'usage');
  if (!span.ok) return undefined;
  if (!span.found) return { promptTokens: 0, completionTokens: 0, totalTokens: 0, rawUsage: undefined };
  const { start, end } = span;
  const values = objectCounts(buf, start, end, target.usageCounts!.keys);
  if (values === undefined) return undefined;
  const acc = newUsage();
  target.usageCounts!.read(values, acc);
  const { prompt, completion, total } = acc;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: total,
    rawUsage: undefined,
    // nested values were checked by structure only: should they not parse, the raw usage is the counts
    rawUsageLazy: () => {
      try {
        return JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>;
      } catch {
        return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
      }
    },
  };
}

function firstNonSpace(b: Buffer): number {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c;
  }
  return -1;
}
