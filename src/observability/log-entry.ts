// Logger entries (R-LOG-1..3, R-LOG-20..22): the default entry, custom
// `log_format`, request/response bodies, and the LLM members. Shared by
// http-logger, kafka-logger and file-logger.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { RequestContext, ServerResponse } from '../core/types.js';
import { VERSION } from '../core/version.js';
import { compileExpression, type Expression } from '../core/expr.js';
import { canonicalVariable } from '../core/vars.js';
import { redactedVar, redactionFor, redactUri, type Redaction } from './redact.js';
import { upstreamLatencyMs } from './metrics.js';
import { cacheCreationTokens, cacheReadTokens, endUserId, reasoningTokens, toolCount } from '../core/usage-details.js';
import { llmCost, rawUsageKnown } from '../core/llm-cost.js';

const HOSTNAME = os.hostname();
const MAX_DEPTH = 5;
export const DEFAULT_MAX_BODY_BYTES = 524288;

/** R-LOG-3: the body attributes shared by the three loggers, as schema properties */
export const bodySchemaProperties: Record<string, unknown> = {
  include_req_body: { type: 'boolean', default: false },
  include_req_body_expr: { type: 'array', minItems: 1, items: { type: 'array' } },
  max_req_body_bytes: { type: 'integer', minimum: 1, default: DEFAULT_MAX_BODY_BYTES },
  include_resp_body: { type: 'boolean', default: false },
  include_resp_body_expr: { type: 'array', minItems: 1, items: { type: 'array' } },
  max_resp_body_bytes: { type: 'integer', minimum: 1, default: DEFAULT_MAX_BODY_BYTES },
};

export interface EntryConfig {
  log_format?: Record<string, unknown>;
  include_req_body?: boolean;
  include_req_body_expr?: unknown[];
  max_req_body_bytes?: number;
  include_resp_body?: boolean;
  include_resp_body_expr?: unknown[];
  max_resp_body_bytes?: number;
}

/** an entry configuration compiled once (expressions, log_format) */
export interface EntryBuilder {
  readonly conf: EntryConfig;
  readonly reqBodyExpr?: Expression;
  readonly respBodyExpr?: Expression;
  /** rewrite-phase work: start capturing the response body, read the request body */
  prepare(ctx: RequestContext): Promise<void>;
  /** the entry for a finished request */
  build(ctx: RequestContext): Record<string, unknown>;
}

/** validate expressions of a logger configuration (plugin `check`): an error text or undefined */
export function checkEntryConfig(conf: EntryConfig): string | undefined {
  for (const key of ['include_req_body_expr', 'include_resp_body_expr'] as const) {
    const e = conf[key];
    if (e === undefined) continue;
    try {
      compileExpression(e);
    } catch (err) {
      return `failed to validate the '${key}' expression: ${(err as Error).message}`;
    }
  }
  return undefined;
}

export function compileEntry(conf: EntryConfig): EntryBuilder {
  const reqBodyExpr = conf.include_req_body_expr ? compileExpression(conf.include_req_body_expr) : undefined;
  const respBodyExpr = conf.include_resp_body_expr ? compileExpression(conf.include_resp_body_expr) : undefined;
  const maxReq = conf.max_req_body_bytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxResp = conf.max_resp_body_bytes ?? DEFAULT_MAX_BODY_BYTES;
  const format = conf.log_format && typeof conf.log_format === 'object' && Object.keys(conf.log_format).length
    ? conf.log_format
    : undefined;
  // a log_format naming `$request_body` / `$response_body` needs the bodies kept
  const formatText = format ? JSON.stringify(format) : '';
  const wantsReqBody = formatText.includes('"$request_body"');
  const wantsRespBody = formatText.includes('"$response_body"');
  return {
    conf,
    reqBodyExpr,
    respBodyExpr,
    async prepare(ctx) {
      if (conf.include_resp_body || wantsRespBody) captureResponseBody(ctx, maxResp);
      if (wantsReqBody || (conf.include_req_body && (!reqBodyExpr || safeExpr(reqBodyExpr, ctx)))) {
        try {
          await readRequestBody(ctx);
        } catch {
          /* body unreadable: logged without it */
        }
      }
    },
    build(ctx) {
      const r = redactionFor(ctx);
      const entry = format ? customEntry(ctx, format, r, maxReq) : defaultEntry(ctx, r);
      if (conf.include_req_body && (!reqBodyExpr || safeExpr(reqBodyExpr, ctx))) {
        const body = cachedRequestBody(ctx, maxReq);
        if (body !== undefined) {
          if (format) entry.request_body = body;
          else (entry.request as Record<string, unknown>).body = body;
        }
      }
      if (conf.include_resp_body && (!respBodyExpr || safeExpr(respBodyExpr, ctx))) {
        const body = capturedResponseBody(ctx);
        if (body !== undefined) {
          if (format) entry.response_body = body;
          else (entry.response as Record<string, unknown>).body = body;
        }
      }
      addLlmMembers(ctx, entry);
      return entry;
    },
  };
}

function safeExpr(e: Expression, ctx: RequestContext): boolean {
  try {
    return e(ctx);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// bodies

const reqBodies = new WeakMap<object, Buffer>();

function cachedRequestBody(ctx: RequestContext, max: number): string | undefined {
  let buf = reqBodies.get(ctx);
  if (!buf) {
    // not read in `prepare` (the request ended before the logger's rewrite)
    if (ctx.parsedBody === undefined) return undefined;
    buf = Buffer.from(JSON.stringify(ctx.parsedBody));
  }
  if (buf.length > max) buf = buf.subarray(0, max);
  return buf.toString('utf8');
}

/** the request body if a logger read it in its rewrite phase */
export function requestBodyIfRead(ctx: RequestContext): Buffer | undefined {
  return reqBodies.get(ctx);
}

/** read the request body once and remember it for the entry */
export async function readRequestBody(ctx: RequestContext): Promise<void> {
  if (reqBodies.has(ctx)) return;
  const b = await ctx.body();
  reqBodies.set(ctx, b);
}

interface Capture {
  chunks: Buffer[];
  size: number;
  max: number;
}
const captures = new WeakMap<object, Capture>();

/**
 * Capture what is sent to the client, up to `max` bytes (R-LOG-3: for AI
 * streams the concatenated SSE bytes). Installed once per request; several
 * loggers share it with the largest limit.
 */
export function captureResponseBody(ctx: RequestContext, max: number): void {
  const existing = captures.get(ctx);
  if (existing) {
    existing.max = Math.max(existing.max, max);
    return;
  }
  const cap: Capture = { chunks: [], size: 0, max };
  captures.set(ctx, cap);
  const res = ctx.res as ServerResponse;
  const write = res.write;
  const end = res.end;
  const take = (chunk: unknown, encoding?: unknown) => {
    if (chunk == null || typeof chunk === 'function' || cap.size >= cap.max) return;
    const buf = typeof chunk === 'string'
      ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : undefined;
    if (!buf) return;
    const room = cap.max - cap.size;
    const part = buf.length > room ? buf.subarray(0, room) : buf;
    cap.chunks.push(Buffer.from(part));
    cap.size += part.length;
  };
  res.write = function (this: ServerResponse, chunk: any, ...args: any[]) {
    take(chunk, args[0]);
    return (write as any).call(this, chunk, ...args);
  } as any;
  res.end = function (this: ServerResponse, chunk?: any, ...args: any[]) {
    take(chunk, args[0]);
    return (end as any).call(this, chunk, ...args);
  } as any;
}

function capturedResponseBody(ctx: RequestContext): string | undefined {
  const cap = captures.get(ctx);
  if (!cap) return undefined;
  return Buffer.concat(cap.chunks, cap.size).toString('utf8');
}

// ---------------------------------------------------------------------------
// entries

function safeVar(ctx: RequestContext, name: string): string | number | undefined {
  try {
    return ctx.getVar(name);
  } catch {
    return undefined;
  }
}

function num(v: string | number | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function requestHeaders(ctx: RequestContext, r: Redaction): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const distinct = (ctx.req as { headersDistinct?: Record<string, string[]> }).headersDistinct;
  for (const [k, v] of Object.entries(ctx.headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    if (r.headers.has(name)) continue;
    const d = distinct?.[name];
    if (d && d.length > 1 && ctx.req.headers[name] === v) out[name] = d;
    else out[name] = Array.isArray(v) ? v : String(v);
  }
  return out;
}

function queryObject(ctx: RequestContext, r: Redaction): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const q = ctx.query;
  for (const name of new Set(q.keys())) {
    if (r.query.has(name)) continue;
    const all = q.getAll(name);
    out[name] = all.length > 1 ? all : all[0]!;
  }
  return out;
}

function responseHeaders(ctx: RequestContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const h = ctx.responseHeaders();
  for (const k of Object.keys(h)) {
    const v = h[k];
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v : typeof v === 'number' ? String(v) : v;
  }
  return out;
}

function latencies(ctx: RequestContext): { latency: number; upstream?: number; apisix: number } {
  const latency = Math.max(0, performance.now() - ctx.startTime);
  const upstream = upstreamLatencyMs(ctx);
  const apisix = Math.max(0, latency - (upstream ?? 0));
  return { latency, upstream, apisix };
}

/** R-LOG-1 */
export function defaultEntry(ctx: RequestContext, r: Redaction = redactionFor(ctx)): Record<string, unknown> {
  const requestUri = redactUri(
    String(safeVar(ctx, 'request_uri') ?? (ctx.queryString ? `${ctx.uri}?${ctx.queryString}` : ctx.uri)),
    r,
  );
  const scheme = String(safeVar(ctx, 'scheme') ?? 'http');
  const port = safeVar(ctx, 'server_port');
  const host = ctx.host || String(safeVar(ctx, 'server_addr') ?? '');
  const { latency, upstream, apisix } = latencies(ctx);
  const entry: Record<string, unknown> = {
    request: {
      url: `${scheme}://${host}${port !== undefined ? `:${port}` : ''}${requestUri}`,
      uri: requestUri,
      method: ctx.method,
      headers: requestHeaders(ctx, r),
      querystring: queryObject(ctx, r),
      size: num(safeVar(ctx, 'request_length')) ?? 0,
    },
    response: {
      status: ctx.status,
      headers: responseHeaders(ctx),
      size: num(safeVar(ctx, 'bytes_sent')) ?? 0,
    },
    server: { hostname: HOSTNAME, version: VERSION },
  };
  const upstreamAddr = safeVar(ctx, 'upstream_addr');
  if (upstreamAddr !== undefined) entry.upstream = upstreamAddr;
  entry.service_id = ctx.serviceId ?? '';
  entry.route_id = ctx.routeId ?? 'no-matched';
  if (ctx.consumer?.username) entry.consumer = { username: ctx.consumer.username };
  entry.client_ip = ctx.clientIp;
  entry.start_time = ctx.startEpochMs;
  entry.latency = latency;
  if (upstream !== undefined) entry.upstream_latency = upstream;
  entry.apisix_latency = apisix;
  return entry;
}

/**
 * Names APISIX's log formats resolve to entry values rather than nginx
 * variables (its log-util `log_vars`): `$request_headers`, `$url`, ...
 */
const LOG_VARS: Record<string, (ctx: RequestContext, r: Redaction, maxReq: number) => unknown> = {
  url: (ctx, r) => (defaultEntry(ctx, r).request as Record<string, unknown>).url,
  request_headers: (ctx, r) => requestHeaders(ctx, r),
  request_querystring: (ctx, r) => queryObject(ctx, r),
  request_body: (ctx, _r, max) => cachedRequestBody(ctx, max),
  response_status: (ctx) => ctx.status,
  response_headers: (ctx) => responseHeaders(ctx),
  response_size: (ctx) => num(safeVar(ctx, 'bytes_sent')),
  response_body: (ctx) => capturedResponseBody(ctx),
  upstream: (ctx) => safeVar(ctx, 'upstream_addr'),
  consumer_username: (ctx) => ctx.consumer?.username,
  client_ip: (ctx) => ctx.clientIp,
  start_time: (ctx) => ctx.startEpochMs,
  version: () => VERSION,
  latency: (ctx) => latencies(ctx).latency,
  upstream_latency: (ctx) => latencies(ctx).upstream,
  apisix_latency: (ctx) => latencies(ctx).apisix,
};

function formatValue(ctx: RequestContext, v: unknown, depth: number, r: Redaction, maxReq: number): unknown {
  if (typeof v === 'string') {
    if (v.startsWith('$')) {
      const name = canonicalVariable(v.slice(1));
      const special = LOG_VARS[name];
      if (special) return special(ctx, r, maxReq) ?? undefined;
      return redactedVar(name, safeVar(ctx, name), r);
    }
    return v;
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    if (depth >= MAX_DEPTH) return {};
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const val = formatValue(ctx, x, depth + 1, r, maxReq);
      if (val !== undefined) out[k] = val;
    }
    return out;
  }
  return v;
}

/** R-LOG-2 */
export function customEntry(
  ctx: RequestContext,
  format: Record<string, unknown>,
  r: Redaction = redactionFor(ctx),
  maxReqBody = DEFAULT_MAX_BODY_BYTES,
): Record<string, unknown> {
  const out = formatValue(ctx, format, 0, r, maxReqBody) as Record<string, unknown>;
  out.route_id = ctx.routeId ?? 'no-matched';
  out.service_id = ctx.serviceId ?? '';
  return out;
}

/** R-LOG-20/21/22: llm_summary, llm_request, llm_response_text */
export function addLlmMembers(ctx: RequestContext, entry: Record<string, unknown>): void {
  const llm = ctx.llm;
  const served = llm && llm.requestType !== 'traditional_http';
  if (served && llm.logSummaries) {
    entry.llm_summary = {
      request_model: llm.requestModel ?? '',
      model: llm.model ?? '',
      duration: Math.round(llm.timeToFirstTokenMs || 0),
      prompt_tokens: llm.promptTokens || 0,
      completion_tokens: llm.completionTokens || 0,
      upstream_response_time: Math.round(llm.upstreamResponseTimeMs ?? 0),
      // R-USG-2/3/4
      total_tokens: llm.totalTokens || 0,
      stream: llm.requestType === 'ai_stream',
      has_tool_calls: llm.hasToolCalls === true,
      tool_count: toolCount(ctx.parsedBody),
      end_user_id: endUserId(ctx.parsedBody),
      cache_read_input_tokens: cacheReadTokens(llm.rawUsage),
      cache_creation_input_tokens: cacheCreationTokens(llm.rawUsage),
      reasoning_tokens: reasoningTokens(llm.rawUsage),
      usage_source: llm.usageSource ?? (rawUsageKnown(llm) ? 'provider' : ''),
      // R-RTY-4
      attempts: llm.attempts ?? [],
    };
    const cost = llmCost(llm);
    if (cost !== undefined) (entry.llm_summary as Record<string, unknown>).cost = cost;
  }
  if (served && llm.logPayloads) {
    const body = llm.requestBody as Record<string, unknown> | undefined;
    let messages: unknown = null;
    if (body && typeof body === 'object') {
      if (body.messages !== undefined) messages = body.messages;
      else if (body.input !== undefined) messages = body.input;
      else if (body.contents !== undefined) messages = body.contents;
    }
    entry.llm_request = { messages, stream: llm.requestType === 'ai_stream' };
    entry.llm_response_text = { content: llm.responseText ?? null };
  }
  const extra = ctx.logFields;
  if (extra) for (const k of Object.keys(extra)) if (k !== 'response_source') entry[k] = extra[k];
}

