// The request context (RequestContext of src/core/types.ts). One per proxy
// request; everything expensive is computed on first use: the request id, the
// parsed query, cookies, the LLM state, the abort signal, the body.
import { hostname as osHostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import type {
  AbortListener, CompiledPlugin, ConsumerInfo, ContextRuntime, LlmPricing, LlmState, OutgoingHeaders, Reply, RequestContext, ResponseSource, UpstreamAttempt, UsageFields,
} from '../core/types.js';
import type { Logger } from '../core/log.js';
import { pageError } from '../core/errors.js';
import { replyParts } from '../core/respond.js';
import { SERVER_HEADER } from '../core/version.js';
import { matchedHostPattern, normalizePath, type HostMatcher } from '../runtime/router.js';
import { BodyReader, BODY_TIMEOUT_CODE } from './body-reader.js';
import { cacheCreationTokens, cacheReadTokens, endUserId, reasoningTokens, toolCount } from '../core/usage-details.js';
import { llmCostText, rawUsageKnown } from '../core/llm-cost.js';
import { isKnownVariable, formatAttempts } from '../core/vars.js';

/** nginx's client_body_timeout: the longest wait between two reads of the request body */
export const DEFAULT_CLIENT_BODY_TIMEOUT_MS = 60_000;

export { BODY_TIMEOUT_CODE };

/** the 408 of a body read timeout (R-GEN-3); the connection is closed after it, as nginx does */
const BODY_TIMEOUT_REPLY = pageError(408, { Connection: 'close' });

const HOSTNAME = osHostname();
const EMPTY_PLUGINS: CompiledPlugin[] = [];

// request ids: 12 random bytes per process + a counter, hex (unique, cheap);
// a new random part each time the counter wraps
let idPrefix = randomBytes(12).toString('hex');
let idCounter = 0;

function newRequestId(): string {
  idCounter = (idCounter + 1) % 0x100000000;
  if (idCounter === 0) idPrefix = randomBytes(12).toString('hex');
  return idPrefix + idCounter.toString(16).padStart(8, '0');
}

const MS_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** milliseconds as nginx's seconds with three decimals (`$request_time`); Number#toFixed cost a visible share of an access-log line */
export function secondsFromMs(ms: number): string {
  const whole = Math.round(ms);
  if (!(whole >= 0) || whole > Number.MAX_SAFE_INTEGER) return (ms / 1000).toFixed(3);
  return Math.floor(whole / 1000) + '.' + MS_DIGITS[whole % 1000]!;
}

/** an attempt's time (seconds) as `$upstream_response_time` prints it */
const attemptSeconds = (a: UpstreamAttempt): string => secondsFromMs(a.time * 1000);

/** URLSearchParams that remembers whether it was changed (hide_credentials) */
export class TrackedParams extends URLSearchParams {
  dirty = false;
  override delete(name: string, value?: string): void {
    this.dirty = true;
    if (value === undefined) super.delete(name);
    else super.delete(name, value);
  }
  override set(name: string, value: string): void {
    this.dirty = true;
    super.set(name, value);
  }
  override append(name: string, value: string): void {
    this.dirty = true;
    super.append(name, value);
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => (n < 10 ? '0' + n : String(n));

function tzOffset(d: Date, colon: boolean): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return sign + p2(Math.floor(a / 60)) + (colon ? ':' : '') + p2(a % 60);
}

export function timeLocal(d: Date): string {
  return `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${tzOffset(d, false)}`;
}

export function timeIso8601(d: Date): string {
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}${tzOffset(d, true)}`;
}

// $time_local is rendered once per second, not per request (access log hot path)
let timeLocalSec = -1;
let timeLocalText = '';
function timeLocalNow(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== timeLocalSec) {
    timeLocalText = timeLocal(new Date(now));
    timeLocalSec = sec;
  }
  return timeLocalText;
}

// `http_x_foo` → `x-foo`, remembered (variable names come from formats and
// configuration, so the set is small; the bound only guards against misuse)
const headerKeys = new Map<string, string>();
function headerKeyOf(name: string): string {
  let k = headerKeys.get(name);
  if (k === undefined) {
    k = name.slice(5).replace(/_/g, '-').toLowerCase();
    if (headerKeys.size < 4096) headerKeys.set(name, k);
  }
  return k;
}

/**
 * `socket.bytesWritten`, read once per request. The getter copies the write
 * queue into a new array each time; when nothing is queued (the usual state
 * when a request starts) its value is the internal `_bytesDispatched`, which
 * is read directly (the getter remains the fallback).
 */
function bytesWrittenNow(sock: IncomingMessage['socket']): number {
  const s = sock as unknown as { _writableState?: { length: number }; _pendingData?: unknown; _bytesDispatched?: unknown };
  const ws = s._writableState;
  if (ws !== undefined && ws.length === 0 && s._pendingData == null && typeof s._bytesDispatched === 'number') return s._bytesDispatched;
  return sock.bytesWritten ?? 0;
}

function headerValue(v: string | string[] | number | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}


/**
 * The request's LlmState. The usage of a non-streamed response can be left
 * to be computed from its body when one of the usage fields is first read or
 * written (deferUsage): most requests are logged without them, and parsing
 * the response body was a visible share of a request's CPU.
 */
class RequestLlmState implements LlmState {
  requestType: LlmState['requestType'] = 'traditional_http';
  requestModel = '';
  model = '';
  declare instanceName?: string;
  declare instancePort?: number;
  declare provider?: string;
  declare clientProtocol?: string;
  timeToFirstTokenMs = 0;
  declare upstreamResponseTimeMs?: number;
  logSummaries = false;
  logPayloads = false;
  declare requestBody?: unknown;
  declare rateLimitRejected?: boolean;
  declare instanceMaxTokens?: number;
  declare usageSource?: 'provider' | 'estimated';
  declare pricing?: LlmPricing;
  private _pending: (() => UsageFields) | undefined = undefined;
  private _pendingText: (() => string | undefined) | undefined = undefined;
  private _prompt = 0;
  private _completion = 0;
  private _total = 0;
  private _raw: Record<string, unknown> | undefined = undefined;
  /** computes _raw when first read */
  private _rawLazy: (() => Record<string, unknown>) | undefined = undefined;
  private _toolCalls: boolean | undefined = undefined;
  private _text: string | undefined = undefined;

  /**
   * `compute` runs once, before any usage field is next read or written;
   * `computeText`, when given, supplies responseText the same way (so that
   * reading the usage does not cost parsing the whole answer)
   */
  deferUsage(compute: () => UsageFields, computeText?: () => string | undefined): void {
    this._pending = compute;
    this._pendingText = computeText;
  }

  private settle(): void {
    const f = this._pending!;
    this._pending = undefined;
    const u = f();
    this._prompt = u.promptTokens;
    this._completion = u.completionTokens;
    this._total = u.totalTokens;
    this._raw = u.rawUsage;
    this._rawLazy = u.rawUsageLazy;
    this._toolCalls = u.hasToolCalls;
    if (this._pendingText === undefined) this._text = u.responseText;
  }

  get promptTokens(): number {
    if (this._pending) this.settle();
    return this._prompt;
  }
  set promptTokens(v: number) {
    if (this._pending) this.settle();
    this._prompt = v;
  }
  get completionTokens(): number {
    if (this._pending) this.settle();
    return this._completion;
  }
  set completionTokens(v: number) {
    if (this._pending) this.settle();
    this._completion = v;
  }
  get totalTokens(): number {
    if (this._pending) this.settle();
    return this._total;
  }
  set totalTokens(v: number) {
    if (this._pending) this.settle();
    this._total = v;
  }
  get hasToolCalls(): boolean | undefined {
    if (this._pending) this.settle();
    return this._toolCalls;
  }
  set hasToolCalls(v: boolean | undefined) {
    if (this._pending) this.settle();
    this._toolCalls = v;
  }
  get rawUsage(): Record<string, unknown> | undefined {
    if (this._pending) this.settle();
    const lazy = this._rawLazy;
    if (lazy !== undefined) {
      this._rawLazy = undefined;
      this._raw = lazy();
    }
    return this._raw;
  }
  set rawUsage(v: Record<string, unknown> | undefined) {
    if (this._pending) this.settle();
    this._rawLazy = undefined;
    this._raw = v;
  }
  get hasRawUsage(): boolean {
    if (this._pending) this.settle();
    return this._rawLazy !== undefined || this._raw !== undefined;
  }
  get responseText(): string | undefined {
    if (this._pending) this.settle();
    const t = this._pendingText;
    if (t !== undefined) {
      this._pendingText = undefined;
      this._text = t();
    }
    return this._text;
  }
  set responseText(v: string | undefined) {
    if (this._pending) this.settle();
    this._pendingText = undefined;
    this._text = v;
  }
}

export type { ContextRuntime };

const kAddr = Symbol('switchyard.addrs');

/**
 * flushHeadSoon's tick: the head goes out alone only when no body byte
 * followed it. An upstream usually sends its head and first event in one
 * write, undici hands both over in one parse, and the head then leaves in
 * the writev of the first chunk: one system call (and one wake-up of the
 * client) less per stream than flushing it at once. headersSent means the
 * head is stored (writeHead ran), not that it was written. Exported for
 * the plugin test harness's response writer (test/ai/harness.ts).
 */
export function flushStoredHead(ctx: { readonly res: ServerResponse; readonly bodyBytesSent: number }): void {
  const res = ctx.res;
  if (res.headersSent && ctx.bodyBytesSent === 0 && !res.writableEnded && !res.destroyed) res.flushHeaders();
}

/** `::ffff:1.2.3.4` (IPv4 on a dual-stack listener) reads as `1.2.3.4`, as in nginx */
function unmapV4(ip: string): string {
  return ip.length > 7 && ip.startsWith('::ffff:') && ip.indexOf('.') > 0 ? ip.slice(7) : ip;
}
interface SocketAddrs {
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
}

type VarGetter = (c: ProxyContext) => string | number | undefined;

/** a lookup table without a prototype (a variable named `constructor` is not a getter) */
function getterTable(t: Record<string, VarGetter>): Record<string, VarGetter> {
  return Object.assign(Object.create(null) as Record<string, VarGetter>, t);
}

export class ProxyContext implements RequestContext {
  /**
   * The getter of every variable of the catalogue (src/core/vars.ts), by
   * name; the prefix families (http_, arg_, cookie_, sent_http_) are resolved
   * in getVar. Formats resolve their getters once, at compile time
   * (getterFor), instead of looking a name up per request.
   */
  private static readonly GETTERS: Readonly<Record<string, VarGetter>> = getterTable({
    uri: (c) => c.uri,
    host: (c) => c.host,
    remote_addr: (c) => c.clientIp,
    remote_port: (c) => c.clientPort,
    request_method: (c) => c.method,
    args: (c) => c.queryString === '' ? undefined : c.queryString,
    query_string: (c) => c.queryString === '' ? undefined : c.queryString,
    is_args: (c) => c.queryString === '' ? '' : '?',
    request_uri: (c) => c.queryString === '' ? c.uri : c.uri + '?' + c.queryString,
    scheme: (c) => 'http',
    server_protocol: (c) => 'HTTP/' + c.req.httpVersion,
    request: (c) => `${c.method} ${c.req.url} HTTP/${c.req.httpVersion}`,
    request_line: (c) => `${c.method} ${c.req.url} HTTP/${c.req.httpVersion}`,
    server_addr: (c) => c.addrs.localIp,
    server_port: (c) => c.addrs.localPort,
    hostname: (c) => HOSTNAME,
    remote_user: (c) => c.remoteUser(),
    status: (c) => { const s = c.status; return s === 0 ? undefined : s; },
    body_bytes_sent: (c) => c.bodyBytesSent,
    bytes_sent: (c) => Math.max(0, (c.req.socket?.bytesWritten ?? 0) - c._bytesWrittenStart),
    request_length: (c) => c.requestLength(),
    request_time: (c) => secondsFromMs(performance.now() - c.startTime),
    time_local: (c) => timeLocalNow(),
    time_iso8601: (c) => timeIso8601(new Date()),
    msec: (c) => (Date.now() / 1000).toFixed(3),
    request_id: (c) => c.requestId,
    apisix_request_id: (c) => c.requestId,
    route_id: (c) => c.routeId,
    route_name: (c) => c.routeName,
    matched_uri: (c) => c.matchedUri,
    matched_host: (c) => c.matchedHosts ? matchedHostPattern(c.matchedHosts, c.host) : undefined,
    service_id: (c) => c.serviceId,
    service_name: (c) => c.serviceName,
    consumer_name: (c) => c.consumer?.username,
    consumer_group_id: (c) => undefined,
    rate_limiting_info: (c) => '',
    document_uri: (c) => c.uri,
    content_type: (c) => headerValue(c.headers['content-type']),
    content_length: (c) => headerValue(c.headers['content-length']),
    pid: (c) => process.pid,
    https: (c) => '',
    server_name: (c) => c.host,
    realip_remote_addr: (c) => c.clientIp,
    realip_remote_port: (c) => c.clientPort,
    request_body: (c) => c._bodyBuf?.toString('utf8'),
    upstream_addr: (c) => c.attemptList((a) => a.addr),
    upstream_status: (c) => c.attemptList((a) => String(a.status)),
    upstream_response_time: (c) => c.attemptList(attemptSeconds),
    upstream_scheme: (c) => c.upstreamScheme,
    upstream_host: (c) => c.upstreamHost,
    upstream_uri: (c) => c.upstreamUri,
    balancer_ip: (c) => c.isAi() ? c._llm!.instanceName : c.balancerIp,
    balancer_port: (c) => c.isAi() ? c._llm!.instancePort : c.balancerPort,
    request_type: (c) => c._llm ? c._llm.requestType : 'traditional_http',
    request_llm_model: (c) => c._llm ? c._llm.requestModel : '',
    llm_model: (c) => c._llm ? c._llm.model : '',
    llm_time_to_first_token: (c) => c._llm ? c._llm.timeToFirstTokenMs : 0,
    llm_prompt_tokens: (c) => c._llm ? c._llm.promptTokens : 0,
    llm_completion_tokens: (c) => c._llm ? c._llm.completionTokens : 0,
    llm_content_risk_level: (c) => '',
    llm_usage_source: (c) => c.isAi() ? (c._llm!.usageSource ?? (rawUsageKnown(c._llm!) ? 'provider' : '')) : '',
    llm_total_tokens: (c) => c._llm ? c._llm.totalTokens : 0,
    llm_stream: (c) => c._llm ? (c._llm.requestType === 'ai_stream' ? 'true' : 'false') : '',
    llm_has_tool_calls: (c) => c.isAi() ? (c._llm!.hasToolCalls === true ? 'true' : 'false') : '',
    llm_tool_count: (c) => c.isAi() ? toolCount(c.parsedBody) : 0,
    llm_end_user_id: (c) => c.isAi() ? endUserId(c.parsedBody) : '',
    llm_cache_read_input_tokens: (c) => c._llm ? cacheReadTokens(c._llm.rawUsage) : 0,
    llm_cache_creation_input_tokens: (c) => c._llm ? cacheCreationTokens(c._llm.rawUsage) : 0,
    llm_reasoning_tokens: (c) => c._llm ? reasoningTokens(c._llm.rawUsage) : 0,
    llm_cost: (c) => c.isAi() ? llmCostText(c._llm!) : '',
    llm_attempts: (c) => c._llm?.attempts ? formatAttempts(c._llm.attempts) : '',
    llm_stream_error: (c) => c._llm?.streamError ?? '',
    apisix_upstream_response_time: (c) => { if (c.isAi() && c._llm!.upstreamResponseTimeMs !== undefined) return Math.round(c._llm!.upstreamResponseTimeMs); return c.attemptList(attemptSeconds); },
  });

  /** the getter of variable `name` for compiled formats; undefined for an unknown name */
  static getterFor(name: string): ((ctx: RequestContext) => string | number | undefined) | undefined {
    const g = ProxyContext.GETTERS[name];
    if (g === undefined) {
      if (!isKnownVariable(name)) return undefined;
      return (ctx) => ctx.getVar(name);
    }
    return (ctx) => {
      if (!(ctx instanceof ProxyContext)) return ctx.getVar(name);
      const vars = ctx._vars;
      if (vars !== undefined && vars.has(name)) return vars.get(name);
      return g(ctx);
    };
  }

  /** the names with a getter of their own (test/proxy/vars.test.ts compares them with the catalogue) */
  static variableNames(): string[] {
    return Object.keys(ProxyContext.GETTERS);
  }

  /** addresses of the connection */
  readonly addrs: SocketAddrs;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startTime: number;
  readonly startEpochMs: number;
  readonly method: string;
  readonly uri: string;
  readonly queryString: string;
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly log: Logger;
  /** the Runtime this request started with (R-GEN-10) */
  readonly runtime: ContextRuntime | undefined;
  /** false when the path could not be decoded (400) */
  readonly pathValid: boolean;

  parsedBody?: unknown;
  // R-RTE-20: set only on requests whose candidate routes test `post_arg.*`
  // (declared, not initialised: other requests pay nothing for them)
  declare postArgs?: unknown;
  declare postArgsRead?: boolean;
  declare postArgsWanted?: boolean;
  routeId?: string;
  routeName?: string;
  serviceId?: string;
  serviceName?: string;
  consumer?: ConsumerInfo;
  upstreamScheme?: string;
  upstreamHost?: string;
  upstreamUri?: string;
  /** picked node of plain proxying (`$balancer_ip` / `$balancer_port`) */
  balancerIp?: string;
  balancerPort?: number;
  instanceHasQuota?: (instanceName: string, instanceMaxTokens?: number) => Promise<boolean>;
  quotaRejection?: { code: number; msg?: string };
  responseSource?: ResponseSource;
  /** the uri pattern of the matched route that matched (`matched_uri`, R-PROM-3) */
  matchedUri?: string;
  /** host patterns of the matched route (`matched_host` is the one that matched) */
  matchedHosts?: HostMatcher;
  /** longest wait between two reads of the body in body() (0: none) */
  bodyTimeoutMs = DEFAULT_CLIENT_BODY_TIMEOUT_MS;
  plugins: CompiledPlugin[] = EMPTY_PLUGINS;
  /** the plugins of `plugins` with a log phase, in order (the pipeline sets both) */
  logPlugins: CompiledPlugin[] = EMPTY_PLUGINS;
  bodyBytesSent = 0;
  /** true once the client went away before the response completed */
  aborted = false;
  /** see RequestContext.usageRead (the pipeline sets it before the proxy phase) */
  usageRead = true;

  private _requestId?: string;
  private _host?: string;
  private _query?: TrackedParams;
  private _cookies?: Map<string, string>;
  private _llm?: LlmState;
  private _attempts?: UpstreamAttempt[];
  private _extra?: Record<string, string>;
  private _logFields?: Record<string, unknown>;
  private _abort?: AbortController;
  private _onAbort?: AbortListener;
  private _vars?: Map<string, string | number | undefined>;
  private _body?: Promise<Buffer>;
  private _status = 0;
  private _bytesWrittenStart: number;
  /** request body bytes seen (when read through body()) */
  private _bodyLength = -1;
  private _bodyBuf?: Buffer;
  /** what writeHead sent */
  private _sentHeaders?: OutgoingHeaders;

  constructor(req: IncomingMessage, res: ServerResponse, log: Logger, runtime?: ContextRuntime) {
    this.req = req;
    this.res = res;
    this.log = log;
    this.runtime = runtime;
    this.startTime = performance.now();
    this.startEpochMs = Date.now();
    this.method = req.method ?? 'GET';
    this.headers = req.headers;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    this.queryString = q < 0 ? '' : url.slice(q + 1);
    const norm = normalizePath(rawPath);
    this.pathValid = norm !== undefined;
    this.uri = norm ?? rawPath;
    const sock = req.socket as typeof req.socket & { [kAddr]?: SocketAddrs };
    // addresses are cached per connection: they are gone once the socket closes
    const a = (sock[kAddr] ??= {
      remoteIp: unmapV4(sock.remoteAddress ?? ''),
      remotePort: sock.remotePort ?? 0,
      localIp: unmapV4(sock.localAddress ?? ''),
      localPort: sock.localPort ?? 0,
    });
    this.addrs = a;
    this.clientIp = a.remoteIp;
    this.clientPort = a.remotePort;
    this._bytesWrittenStart = bytesWrittenNow(sock);
  }

  get requestId(): string {
    return (this._requestId ??= newRequestId());
  }

  get host(): string {
    if (this._host === undefined) {
      let h = this.req.headers.host ?? '';
      if (h.charCodeAt(0) === 91 /* [ */) {
        const end = h.indexOf(']');
        h = end > 0 ? h.slice(0, end + 1) : h;
      } else {
        const c = h.indexOf(':');
        if (c >= 0) h = h.slice(0, c);
      }
      this._host = h.toLowerCase();
    }
    return this._host;
  }

  get query(): TrackedParams {
    return (this._query ??= new TrackedParams(this.queryString));
  }

  /** query string to forward (reflects hide_credentials) */
  forwardQueryString(): string {
    return this._query?.dirty ? this._query.toString() : this.queryString;
  }

  get llm(): LlmState {
    return (this._llm ??= new RequestLlmState());
  }

  get upstreamAttempts(): UpstreamAttempt[] {
    return (this._attempts ??= []);
  }

  /** the LLM state if an AI plugin created one (no allocation otherwise; the dashboard's ring, R-UI-1) */
  get llmIfAny(): LlmState | undefined {
    return this._llm;
  }

  /** the upstream attempts if any were made (no allocation otherwise) */
  get attemptsIfAny(): UpstreamAttempt[] | undefined {
    return this._attempts;
  }

  get extraResponseHeaders(): Record<string, string> {
    return (this._extra ??= {});
  }

  /** extra headers if any were set (no allocation otherwise) */
  get extraHeadersIfAny(): Record<string, string> | undefined {
    return this._extra;
  }

  get logFields(): Record<string, unknown> {
    return (this._logFields ??= {});
  }

  get clientAbort(): AbortSignal {
    if (!this._abort) {
      this._abort = new AbortController();
      if (this.aborted) this._abort.abort();
    }
    return this._abort.signal;
  }

  /** called by the server when the response closed before it was complete */
  markAborted(): void {
    if (this.aborted) return;
    this.aborted = true;
    this._abort?.abort();
    const cb = this._onAbort;
    this._onAbort = undefined;
    if (typeof cb === 'function') cb();
    else cb?.clientAborted();
  }

  /** one cheap abort callback (the proxies use it instead of an AbortSignal) */
  setAbortCallback(cb: AbortListener | undefined): void {
    this._onAbort = cb;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  get status(): number {
    if (this.res.headersSent) return this.res.statusCode;
    if (this.aborted) return 499;
    return this._status;
  }

  set status(v: number) {
    this._status = v;
  }

  get bodyRead(): Buffer | undefined {
    return this._bodyBuf;
  }

  /** whether the request body was buffered through body() */
  get bodyBuffered(): boolean {
    return this._body !== undefined;
  }

  /**
   * Read the body for `post_arg.*` route vars (R-RTE-20): only an
   * application/json body of at most `maxBytes` (0: any size) that parses;
   * the parse is kept in `parsedBody` for the AI plugins. Anything else
   * leaves `postArgs` absent; never an error (a stalled body was already
   * answered 408 by body()).
   */
  async readPostArgs(maxBytes: number): Promise<void> {
    this.postArgsRead = true;
    const ct = this.req.headers['content-type'];
    if (ct === undefined || !ct.toLowerCase().startsWith('application/json')) return;
    const cl = this.req.headers['content-length'];
    if (maxBytes > 0 && cl !== undefined && Number(cl) > maxBytes) return;
    let raw: Buffer;
    try {
      raw = await this.body();
    } catch {
      return;
    }
    if (raw.length === 0 || (maxBytes > 0 && raw.length > maxBytes)) return;
    if (this.parsedBody === undefined) {
      try {
        this.parsedBody = JSON.parse(raw.toString('utf8'));
      } catch {
        return;
      }
    }
    this.postArgs = this.parsedBody;
  }

  body(limit?: number): Promise<Buffer> {
    if (this._body) return this._body;
    const req = this.req;
    if (req.readableEnded) {
      // already consumed (streamed upstream) or empty
      this._bodyLength = 0;
      return (this._body = Promise.resolve(Buffer.alloc(0)));
    }
    return (this._body = new BodyReader(req, limit, this.bodyTimeoutMs, this).promise);
  }

  /** BodyOwner: the whole body was read */
  bodyDone(body: Buffer): void {
    this._bodyLength = body.length;
    this._bodyBuf = body;
  }

  /** BodyOwner: the client stalled while sending the body (nginx's client_body_timeout) */
  bodyStalled(ms: number): void {
    this.log.warn(`client timed out (${ms} ms) while sending the request body: ${this.method} ${this.uri}`);
    const res = this.res;
    if (!res.headersSent && !this.aborted) {
      this.responseSource = 'apisix';
      this.sendReply(BODY_TIMEOUT_REPLY);
    } else if (!res.writableEnded) res.destroy();
  }

  // -- the response writer (RequestContext): the only place bytes reach the client

  writeHead(status: number, headers: OutgoingHeaders): void {
    const res = this.res;
    if (res.headersSent || this.aborted) return;
    headers.Server = SERVER_HEADER;
    const extra = this._extra;
    if (extra !== undefined) for (const k in extra) headers[k] = extra[k]!;
    this._sentHeaders = headers;
    res.writeHead(status, headers);
  }

  responseHeaders(): Record<string, string | number | string[]> {
    const h = this._sentHeaders;
    const out: Record<string, string | number | string[]> = {};
    if (h !== undefined) for (const k in h) out[k.toLowerCase()] = h[k]!;
    return out;
  }

  private responseHeader(name: string): string | number | string[] | undefined {
    const h = this._sentHeaders;
    if (h === undefined) return undefined;
    if (h[name] !== undefined) return h[name];
    for (const k in h) if (k.toLowerCase() === name) return h[k];
    return undefined;
  }

  flushHeadSoon(): void {
    process.nextTick(flushStoredHead, this);
  }

  write(chunk: Buffer | string): boolean {
    this.bodyBytesSent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return this.res.write(chunk);
  }

  beforeEnd: (() => Promise<unknown> | undefined) | undefined = undefined;

  end(chunk?: Buffer | string): void {
    if (chunk !== undefined) this.bodyBytesSent += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    const hook = this.beforeEnd;
    if (hook !== undefined) {
      this.beforeEnd = undefined;
      const p = hook();
      if (p !== undefined) {
        const res = this.res;
        const endNow = () => {
          if (!res.destroyed) res.end(chunk);
        };
        p.then(endNow, endNow);
        return;
      }
    }
    this.res.end(chunk);
  }

  sendReply(reply: Reply): void {
    const res = this.res;
    if (res.headersSent || this.aborted) return;
    const { headers, body } = replyParts(reply);
    this.status = reply.status;
    this.writeHead(reply.status, headers);
    this.end(body);
  }

  setVar(name: string, value: string | number | undefined): void {
    (this._vars ??= new Map()).set(name, value);
  }

  getVar(name: string): string | number | undefined {
    if (this._vars !== undefined && this._vars.has(name)) return this._vars.get(name);
    const g = ProxyContext.GETTERS[name];
    if (g !== undefined) return g(this);
    const c0 = name.charCodeAt(0);
    if (c0 === 104 /* h */ && name.startsWith('http_')) {
      return headerValue(this.headers[headerKeyOf(name)]);
    }
    if (c0 === 97 /* a */ && name.startsWith('arg_')) {
      const v = this.query.get(name.slice(4));
      return v === null ? undefined : v;
    }
    if (c0 === 99 /* c */ && name.startsWith('cookie_')) {
      return this.cookies().get(name.slice(7));
    }
    if (c0 === 115 /* s */ && name.startsWith('sent_http_')) {
      return headerValue(this.responseHeader(name.slice(10).replace(/_/g, '-').toLowerCase()));
    }
    return undefined;
  }

  private isAi(): boolean {
    return this._llm !== undefined && this._llm.requestType !== 'traditional_http';
  }

  private attemptList(f: (a: UpstreamAttempt) => string): string | undefined {
    const a = this._attempts;
    if (!a || a.length === 0) return undefined;
    if (a.length === 1) return f(a[0]!);
    return a.map(f).join(', ');
  }

  private remoteUser(): string | undefined {
    const auth = this.headers.authorization;
    if (!auth || auth.length < 7 || auth.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
    const dec = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const c = dec.indexOf(':');
    if (c < 0) return undefined;
    return dec.slice(0, c);
  }

  private cookies(): Map<string, string> {
    if (!this._cookies) {
      const m = new Map<string, string>();
      const raw = headerValue(this.headers.cookie);
      if (raw) {
        for (const part of raw.split(/;\s*/)) {
          const eq = part.indexOf('=');
          if (eq <= 0) continue;
          const k = part.slice(0, eq).trim();
          if (!m.has(k)) m.set(k, part.slice(eq + 1).trim());
        }
      }
      this._cookies = m;
    }
    return this._cookies;
  }

  private requestLength(): number {
    const req = this.req;
    let n = (req.method?.length ?? 0) + 1 + (req.url?.length ?? 0) + 11; // "GET /x HTTP/1.1\r\n"
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) n += raw[i]!.length + 2 + raw[i + 1]!.length + 2;
    n += 2;
    if (this._bodyLength >= 0) n += this._bodyLength;
    else {
      const cl = Number(req.headers['content-length']);
      if (cl > 0) n += cl;
    }
    return n;
  }
}
