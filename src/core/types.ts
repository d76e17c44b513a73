// Shared contracts between the configuration path (admin, store, runtime
// compiler) and the request path (proxy, plugins, llm). Every module that
// crosses a folder boundary goes through these types.
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import type { SharedState, SharedStatePool } from './shared-state.js';
import type { HealthService } from './health-types.js';
import type { Logger } from './log.js';
import type { UpstreamTransport } from './transport-types.js';
import type { GatewayScope } from './lifecycle.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };
export type JSONSchema = Record<string, unknown>;

/**
 * A response the gateway produces itself (R-GEN-1..3). `kind` picks the body
 * form: `json` = JSON error body with trailing "\n", `text` = plain text,
 * `page` = the default HTML error page for `status`.
 */
export interface Reply {
  status: number;
  kind: 'json' | 'text' | 'page';
  body?: unknown;
  headers?: Record<string, string | string[]>;
  /** R-ERR-1: sent exactly as given (`_meta.error_response`), never reshaped for an AI protocol */
  verbatim?: boolean;
}

/** the usage fields of LlmState that a relayed non-streamed response fills */
export interface UsageFields {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  rawUsage?: Record<string, unknown>;
  /** instead of rawUsage: the raw usage, computed when first read */
  rawUsageLazy?: () => Record<string, unknown>;
  responseText?: string;
  /** R-USG-3: the answer calls tools */
  hasToolCalls?: boolean;
}

/** LLM facts of one request, filled by the AI plugins, read by later plugins and loggers. */
export interface LlmState {
  /** R-VAR-1/2 */
  requestType: 'traditional_http' | 'ai_chat' | 'ai_stream';
  /** client's `model` ("" when absent) */
  requestModel: string;
  /** effective model sent upstream ("" when none) */
  model: string;
  /** picked instance name (R-BAL-10): also `$balancer_ip` */
  instanceName?: string;
  instancePort?: number;
  provider?: string;
  /** client protocol detected by R-REQ-2 */
  clientProtocol?: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** the provider's raw usage object, for cost_expr (R-RL-9); undefined when no usage was seen */
  rawUsage?: Record<string, unknown>;
  /**
   * rawUsage is not undefined, told without computing it (the usage of a
   * relayed answer is parsed when first read); see rawUsageKnown
   */
  readonly hasRawUsage?: boolean;
  /** integer ms, R-RSP-5 / R-RSP-13 */
  timeToFirstTokenMs: number;
  /** integer ms, `$apisix_upstream_response_time` for AI requests */
  upstreamResponseTimeMs?: number;
  /** logging.summaries / logging.payloads of the AI plugin that served the request (R-APM-20) */
  logSummaries: boolean;
  logPayloads: boolean;
  /** the body sent to the LLM (final attempt), for logging.payloads */
  requestBody?: unknown;
  /** response text (R-RSP-3 / R-RSP-14), for logging.payloads */
  responseText?: string;
  /** set by ai-rate-limiting when it rejected the request: then it is not charged */
  rateLimitRejected?: boolean;
  /** the picked instance's `options.max_tokens` (R-QTA-2 estimate) */
  instanceMaxTokens?: number;
  /** R-USG-2: `estimated` when the usage was counted by switchyard (undefined: the provider's) */
  usageSource?: 'provider' | 'estimated';
  /** R-USG-4: the serving instance's prices */
  pricing?: LlmPricing;
  /** R-USG-3 `llm_has_tool_calls`: the answer called tools */
  hasToolCalls?: boolean;
  /** R-RTY-4: the request's attempts in order (skipped instances with 0 ms) */
  attempts?: LlmAttempt[];
  /** R-STR-2: the code of the error event that ended a stream early (`$llm_stream_error`) */
  streamError?: string;
}

/** R-USG-4: prices per one million tokens */
export interface LlmPricing {
  input: number;
  output: number;
  cacheRead: number;
  currency: string;
}

/** R-RTY-4: one attempt of an AI request */
export interface LlmAttempt {
  instance: string;
  /** `ok`, an HTTP status, `timeout`, `connect_error`, `ttft_timeout`, `rate_limited`, `unhealthy`, `cooling_down` */
  outcome: string;
  ms: number;
}

/** One upstream attempt, for `$upstream_addr`, `$upstream_status`, `$upstream_response_time` (R-VAR-4). */
export interface UpstreamAttempt {
  addr: string;
  status: number;
  /** seconds, millisecond resolution */
  time: number;
}

export interface ConsumerInfo {
  username: string;
  /** the Consumer's own plugins (R-KA-9), compiled */
  plugins: CompiledPlugin[];
  labels?: Record<string, string>;
  credentialId?: string;
}

/** The consumer lookup of one compiled configuration (R-KA-4, R-KA-8); built in src/runtime/compile.ts. */
export interface ConsumerIndex {
  /** the consumer whose key-auth key equals `key` (R-KA-4) */
  findByKey(key: string): (ConsumerInfo & { broken?: boolean }) | undefined;
  findByName(username: string): (ConsumerInfo & { broken?: boolean }) | undefined;
  readonly size: number;
}

/** What the compiled configuration a request runs with exposes to it (R-GEN-10). */
export interface ContextRuntime {
  readonly generation: number;
  /** consumers of that configuration, for auth plugins */
  readonly consumers?: ConsumerIndex;
}

/** R-PROM-3 `response_source` */
export type ResponseSource = 'upstream' | 'apisix' | 'nginx';

/** what the proxy context calls when the client goes away (one per request, see ProxyContext.setAbortCallback) */
export type AbortListener = (() => void) | { clientAborted(): void };

/**
 * The request context. One per proxy request; plugins share state only through it.
 * Implemented in src/proxy/context.ts.
 */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() when the request started */
  readonly startTime: number;
  /** Date.now() when the request started */
  readonly startEpochMs: number;
  readonly requestId: string;
  readonly method: string;
  /** normalized path (R-RTE-1) */
  readonly uri: string;
  /** raw query string without "?" ("" when none) */
  readonly queryString: string;
  /** request host without port, lower-cased */
  readonly host: string;
  readonly clientIp: string;
  readonly clientPort: number;
  /** mutable request headers (lower-case names): key-auth sets/deletes, forwarders read */
  readonly headers: IncomingHttpHeaders;
  /** parsed query arguments (first value wins); mutable (hide_credentials) */
  readonly query: URLSearchParams;
  /**
   * the request body, read once and cached. With `limit` (R-CAP-1) a body
   * growing past it is not read further: the promise rejects with code
   * BODY_TOO_LARGE_CODE (src/core/errors.ts)
   */
  body(limit?: number): Promise<Buffer>;
  /** the whole body once body() has read it; undefined before (or when reading it failed) */
  readonly bodyRead?: Buffer;
  /** the body parsed as JSON once (undefined when not parsed yet) */
  parsedBody?: unknown;

  /** R-VAR: a variable's value, undefined when absent. Computed lazily. */
  getVar(name: string): string | number | undefined;
  /** override or add a variable */
  setVar(name: string, value: string | number | undefined): void;

  routeId?: string;
  routeName?: string;
  serviceId?: string;
  serviceName?: string;
  consumer?: ConsumerInfo;
  /** the compiled configuration this request runs with (R-GEN-10); undefined outside the proxy */
  readonly runtime?: ContextRuntime;
  /**
   * Where the response came from (R-PROM-3 `response_source`), when the
   * server knows it: set for gateway-produced replies and for responses of
   * the proxy phase. Unset: derived from the upstream attempts.
   */
  responseSource?: ResponseSource;

  /** LLM facts (defaults per R-VAR-1) */
  readonly llm: LlmState;
  /**
   * Something reads this request's token usage once its answer ended: a
   * log-phase plugin, an access-log format with `$llm_*` variables, the
   * terminal's traffic summary. False: an answer without usage is not
   * estimated (R-USG-2), nor is anything kept for that. Undefined counts as
   * true.
   */
  usageRead?: boolean;
  readonly upstreamAttempts: UpstreamAttempt[];
  upstreamScheme?: string;
  upstreamHost?: string;
  upstreamUri?: string;

  /** headers added to whatever response is finally sent (quota headers R-RL-13) */
  readonly extraResponseHeaders: Record<string, string>;
  /**
   * Extra top-level members a plugin wants in logger entries (R-LOG): copied
   * into every entry built by src/observability/log-entry.ts. The built-in
   * plugins write none (the LLM members are built from `llm`).
   */
  readonly logFields: Record<string, unknown>;

  /**
   * Rate-limit-aware selection hook (R-FB-2): set by ai-rate-limiting in its
   * rewrite phase; ai-proxy-multi calls it during instance selection. Returns
   * true when the instance still has quota (and sets that instance's headers).
   */
  instanceHasQuota?: (instanceName: string, instanceMaxTokens?: number) => Promise<boolean>;
  /**
   * R-QTA-3: set with instanceHasQuota; when every instance was refused by
   * it, ai-proxy-multi answers this status (and `rejected_msg` as body).
   */
  quotaRejection?: { code: number; msg?: string };
  /** the merged, ordered plugin list of this request */
  plugins: CompiledPlugin[];

  /** aborted when the client goes away before the response is complete (R-RSP-16) */
  readonly clientAbort: AbortSignal;
  /** status written to the client (499 if the client left before headers) */
  status: number;
  /** response body bytes written (counted by the writer below) */
  bodyBytesSent: number;
  /** true once the status line was sent */
  readonly headersSent: boolean;

  /*
   * The response writer: every byte the client receives goes through these
   * (the proxy listener sets nothing on the response itself). writeHead
   * adds `Server` and the extra headers (R-RL-13) to `headers`, which the
   * caller hands over (a fresh object with lower-case names); write/end count
   * the body bytes ($body_bytes_sent). After the client left they do nothing.
   */
  writeHead(status: number, headers: OutgoingHeaders): void;
  /**
   * A stream's head, stored by writeHead: it leaves with the first body
   * byte written in this turn, or alone on the next tick (R-RSP-10).
   */
  flushHeadSoon(): void;
  write(chunk: Buffer | string): boolean;
  /**
   * Runs once, just before end() sends the answer's last byte; end() waits
   * for the promise it returns (R-WRK-2): ai-rate-limiting settles counters
   * that live in another process here, so that a sequential client's next
   * request, on any worker, already sees the charge.
   */
  beforeEnd?: () => Promise<unknown> | undefined;
  end(chunk?: Buffer | string): void;
  /** a gateway-produced reply (error pages, JSON errors), unless headers were sent */
  sendReply(reply: Reply): void;
  /** the response headers sent (lower-case names; empty before writeHead) */
  responseHeaders(): Record<string, string | number | string[]>;

  readonly log: Logger;
}

/** response headers handed to RequestContext.writeHead */
export type OutgoingHeaders = Record<string, string | number | string[]>;

export type PhaseResult = void | Reply | undefined;
export type PhaseHandler<C> = (ctx: RequestContext, conf: C) => PhaseResult | Promise<PhaseResult>;

/** What a plugin gets when its configuration is compiled (once per configuration change). */
/** `auth.gcp` of an AI instance (R-PRV-12) */
export interface GcpAuthConf {
  service_account_json?: string;
  max_ttl?: number;
  expire_early_secs?: number;
}

/** where GCP access tokens come from: a cache the running gateway owns (src/llm/providers/gcp-token.ts) */
export interface AccessTokenSource {
  /** a token for `conf`, cached per `cacheKey`; rejects with the reason */
  token(cacheKey: string, conf: GcpAuthConf): Promise<string>;
}

/** log entries a logger dropped, counted per logger name and reason (apisix_log_entries_dropped_total) */
export interface LogDropCounter {
  add(logger: string, reason: string, n: number): void;
}

/** the gateway's metrics as the request path records into them (src/observability/metrics.ts) */
export interface RequestMetrics {
  readonly logDrops: LogDropCounter;
  /** R-PROM-2/3/4: one finished request (the `prometheus` plugin's log phase) */
  recordRequest(ctx: RequestContext, opts?: { preferName?: boolean }): void;
  /** R-PROM-5: an attempt to an LLM instance starts; decrement `n` of the result once when it ends */
  trackLlmAttempt(ctx: RequestContext, node: string): { n: number };
}

export interface CompileEnv {
  /** key of the resource holding the configuration, e.g. `/apisix/routes/1` */
  parentKey: string;
  /** stable hash of the plugin configuration (for counter identity, R-RL-5) */
  confHash: string;
  state: SharedState;
  health: HealthService;
  /** the gateway's upstream HTTP layer: every plugin that calls out dispatches through it */
  transport: UpstreamTransport;
  /** R-PRV-12: the gateway's GCP access tokens */
  gcpTokens: AccessTokenSource;
  /** R-RL-30: the gateway's Redis clients, shared by the configurations that name the same server */
  redis: SharedStatePool;
  /** the gateway's Prometheus registry */
  metrics: RequestMetrics;
  /** the gateway's shutdown hooks and the objects its plugins share (open files) */
  scope: GatewayScope;
  log: Logger;
}

/**
 * A plugin, APISIX style: a plain object with a name, a priority, a JSON
 * schema and one function per phase. Registered in src/plugins/registry.ts.
 */
export interface PluginDef<C = any> {
  name: string;
  priority: number;
  version?: number;
  type?: 'auth';
  /** the schema for Routes/Services/Global Rules (and Consumers unless consumerSchema) */
  schema: JSONSchema;
  /** schema used on Consumers and Credentials for auth plugins (R-RES-6) */
  consumerSchema?: JSONSchema;
  /**
   * Checks beyond the schema, on the validated copy (defaults applied).
   * Returns an error text (wrapped by the caller as
   * `failed to check the configuration of plugin <name> err: <text>`).
   */
  check?(conf: any, schemaType: 'route' | 'consumer'): string | undefined;
  /** turn the validated configuration into a ready object, once per change */
  compile?(conf: any, env: CompileEnv): C;
  /** release timers/sockets of a compiled object that is no longer used */
  destroy?(compiled: C): void;
  rewrite?: PhaseHandler<C>;
  access?: PhaseHandler<C>;
  /**
   * Proxy phase: only the AI proxy plugins have it. It sends the response
   * itself (streaming as it goes) or returns a Reply when nothing was sent.
   */
  proxy?: PhaseHandler<C>;
  /** log phase: after the response was sent or the client left. Never throws to the caller. */
  log?: (ctx: RequestContext, conf: C) => void | Promise<void>;
}

/** A plugin configuration compiled for one resource. */
export interface CompiledPlugin<C = any> {
  def: PluginDef<C>;
  /** effective priority (`_meta.priority` or the plugin's) */
  priority: number;
  /** the compiled object (plugin.compile result, or the validated conf) */
  conf: C;
  /** raw `_meta.filter` expression compiled (R-ADM-60), when present */
  filter?: (ctx: RequestContext) => boolean;
  /** `_meta.error_response` */
  errorResponse?: string | Record<string, unknown>;
  /** where it came from */
  origin: 'global' | 'service' | 'route' | 'consumer';
  parentKey: string;
}

export type { IncomingMessage, ServerResponse };
