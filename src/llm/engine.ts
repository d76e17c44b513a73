// The LLM proxy engine shared by ai-proxy-multi and ai-proxy: the
// attempt/fallback loop (R-FB). The parts live in their own modules:
// protocols/ (detection, usage), converters/ (by protocol pair), providers/
// (hosts, paths, auth), request.ts (outgoing body and headers), relay.ts
// (buffered and streamed answers), balancer/ (selection, hash keys),
// health/ (checkers from the instance list).
//
// access(ctx): picks the first instance (rate-limit aware, R-FB-2), checks
//   and parses the body once (R-REQ-1/2), fills ctx.llm (R-VAR-2).
// proxy(ctx):  runs attempts until one response is relayed (R-FB-3..10).
// Logger fields (R-APM-20, R-LOG-20/21) are built by the loggers from ctx.llm.
import type { RequestContext, Reply, CompileEnv, AbortListener, RequestMetrics } from '../core/types.js';
import type { Converter } from './converters/index.js';
import { jsonError, pageError, textError } from '../core/errors.js';
import { detectClientProtocol, type LlmProtocol } from './protocols/index.js';
import { compileInstance, instanceProtocol, resolveTarget, type CompiledInstance } from './instance.js';
import { GroupSelector, exhaustedMessage, AVAILABLE, COOLING, TRIAL } from './balancer/groups.js';
import { HashKeySource } from './balancer/hash-key.js';
import type { HealthHandle, PassiveKind } from './health/types.js';
import { registerInstanceHealth } from './health/instances.js';
import { retryAfterMs } from './health/conf.js';
import { classifyError, llmTransportSettings, UpstreamCall, type TransportConf } from './transport.js';
import type { TransportHandle, UpstreamTransport } from '../core/transport-types.js';
import { GatewayTransport } from '../transport/index.js';
import { GcpTokenCache } from './providers/gcp-token.js';
import { buildBody, buildHeaders } from './request.js';
import { DONE, isEventStream, relayBody, relayStream, failureOutcome, recordAttempt, type AttemptHost, type AttemptOutcome, type AttemptResult, type Io } from './relay.js';
import { Deadline } from '../core/deadlines.js';
import { BODY_TOO_LARGE_CODE } from '../core/errors.js';
import { AttemptAbort } from './attempt-abort.js';
import { isModelListRequest, modelListReply } from './model-list.js';

export type Strategy = 'rate_limiting' | 'http_429' | 'http_5xx';

/** R-FB-1 */
export function normalizeStrategy(s: unknown): Set<Strategy> {
  if (s === undefined || s === null) return new Set();
  if (typeof s === 'string') return new Set([s === 'instance_health_and_rate_limiting' ? 'rate_limiting' : (s as Strategy)]);
  if (Array.isArray(s)) return new Set(s as Strategy[]);
  return new Set();
}

interface ReqState {
  engine: LlmEngine;
  raw: Buffer;
  body: Record<string, unknown>;
  protocol: LlmProtocol;
  /** instances already tried or skipped (created on the first one: most requests need none) */
  tried?: Set<number>;
  current: CompiledInstance;
  hashKey?: string;
  /** R-PHC-1: `current` was picked for its open trial, not claimed yet (claimed right before it is sent) */
  trial: string | undefined;
  /** R-PHC-1: the trial this request holds until its attempt reports it (or gives it back) */
  claimed: string | undefined;
}

/** what a pick reads and writes besides the context */
interface PickState {
  tried?: Set<number>;
  hashKey?: string;
  quotaSkipped?: number;
  trial: string | undefined;
}

const NONE_TRIED: ReadonlySet<number> = new Set();

/** the metrics of an engine compiled without a gateway (unit tests): counts nothing */
const NO_METRICS: Pick<RequestMetrics, 'trackLlmAttempt'> = {
  trackLlmAttempt: () => ({ n: 0 }),
};

function markTried(st: { tried?: Set<number> }, index: number): void {
  (st.tried ??= new Set()).add(index);
}

// the request's engine state lives on the context under a private symbol
// (a WeakMap insertion per request cost more than the property)
const kState = Symbol('switchyard.llmEngineState');
type WithState = RequestContext & { [kState]?: ReqState };
/** ProxyContext's single abort callback (src/proxy/context.ts) */
type AbortHookable = RequestContext & { setAbortCallback?: (cb: AbortListener | undefined) => void };

/** R-CAP-1 (the connection is closed: the rest of the body is never read) */
const BODY_TOO_LARGE: Reply = Object.freeze(jsonError(413, { error_msg: 'request body too large' }, { connection: 'close' }));

/** R-STR-1: the attempt's first byte (streamed: first event) did not come in time */
function ttftExpired(call: UpstreamCall): void {
  call.abort(new AttemptAbort('ttft_timeout', 'no first byte within ttft_timeout_ms'));
}

/**
 * R-ERR-1: a request refused before its body was read still gets its
 * protocol's error shape: the body is parsed here, on the refusal path only
 */
async function parseForErrorShape(ctx: RequestContext, limit: number): Promise<void> {
  if (ctx.parsedBody !== undefined) return;
  try {
    // R-CAP-1 holds here too: a body past the limit is not read for its shape
    const raw = await ctx.body(limit);
    if (raw.length > 0) ctx.parsedBody = JSON.parse(raw.toString('utf8'));
  } catch {
    // not JSON: the error keeps APISIX's shape
  }
}

export interface EngineOptions {
  /** plugin name, for log lines */
  plugin: string;
}

export class LlmEngine implements AttemptHost {
  readonly instances: CompiledInstance[];
  private readonly strategy: Set<Strategy>;
  /** R-RTY-1: upstream statuses that fall back besides the strategy's */
  private readonly fallbackStatuses?: ReadonlySet<number>;
  /** R-RTY-2: further instances tried after the first failure (Infinity: each once) */
  private readonly maxRetries: number;
  /** R-RTY-3: a failure falls back only within this many ms of sending (Infinity: always) */
  private readonly retryWithinMs: number;
  private readonly selector?: GroupSelector;
  private readonly health?: HealthHandle;
  private readonly hashKey?: HashKeySource;
  readonly logSummaries: boolean;
  readonly logPayloads: boolean;
  private readonly net: UpstreamTransport;
  /** a transport of its own when compiled without a gateway (unit tests), closed in destroy() */
  private readonly ownNet?: GatewayTransport;
  /** R-PROM-5: where attempts are counted (nowhere when compiled without a gateway) */
  readonly metrics: Pick<RequestMetrics, 'trackLlmAttempt'>;
  /** a GCP token cache of its own when compiled without a gateway (unit tests), closed in destroy() */
  private readonly ownTokens?: GcpTokenCache;
  private readonly transport: TransportHandle;
  /** R-MDL-1 */
  private readonly modelList: Reply;
  private destroyed = false;
  /** R-CAP-1 */
  private readonly maxReqBody: number;
  /** R-STR-3: the undici body timeout of streamed requests (unset: `timeout`) */
  private readonly streamIdleMs?: number;
  /** R-CAP-2 */
  readonly maxStreamMs?: number;
  /** R-CAP-3 */
  readonly maxResponseBytes?: number;

  constructor(conf: any, env: Partial<CompileEnv> | undefined, readonly opts: EngineOptions) {
    const t: TransportConf = {
      timeout: conf.timeout ?? 30000,
      keepalive: conf.keepalive ?? true,
      keepalive_timeout: conf.keepalive_timeout ?? 60000,
      keepalive_pool: conf.keepalive_pool ?? 30,
      ssl_verify: conf.ssl_verify ?? true,
    };
    const base = `${env?.parentKey ?? ''}#${env?.confHash ?? ''}`;
    // one transport for all instances (they share the settings), released in destroy()
    if (env?.transport) this.net = env.transport;
    else this.net = this.ownNet = new GatewayTransport();
    const transport = (this.transport = this.net.acquire(llmTransportSettings(t)));
    this.metrics = env?.metrics ?? NO_METRICS;
    try {
      const tokens = env?.gcpTokens ?? (this.ownTokens = new GcpTokenCache(this.net));
      this.instances = (conf.instances as any[]).map((inst, i) => compileInstance(inst, i, t, base, tokens));
    } catch (e) {
      transport.release();
      throw e;
    }
    this.modelList = modelListReply(this.instances);
    const ttft = conf.ttft_timeout_ms;
    for (let i = 0; i < this.instances.length; i++) {
      const own = conf.instances[i]?.ttft_timeout_ms;
      const ms = typeof own === 'number' ? own : ttft;
      if (typeof ms === 'number') this.instances[i]!.ttftMs = ms;
    }
    this.maxReqBody = typeof conf.max_req_body_size === 'number' ? conf.max_req_body_size : 67108864;
    if (typeof conf.stream_idle_timeout_ms === 'number') this.streamIdleMs = conf.stream_idle_timeout_ms;
    if (typeof conf.max_stream_duration_ms === 'number') this.maxStreamMs = conf.max_stream_duration_ms;
    if (typeof conf.max_response_bytes === 'number') this.maxResponseBytes = conf.max_response_bytes;
    this.strategy = normalizeStrategy(conf.fallback_strategy);
    const fs = conf.fallback_http_statuses;
    if (Array.isArray(fs) && fs.length > 0) this.fallbackStatuses = new Set(fs as number[]);
    this.maxRetries = typeof conf.max_retries === 'number' ? conf.max_retries : Infinity;
    this.retryWithinMs = typeof conf.retry_on_failure_within_ms === 'number' ? conf.retry_on_failure_within_ms : Infinity;
    this.logSummaries = conf.logging?.summaries === true;
    this.logPayloads = conf.logging?.payloads === true;
    const b = conf.balancer ?? {};
    const algorithm = b.algorithm === 'chash' ? 'chash' : 'roundrobin';
    if (algorithm === 'chash') this.hashKey = new HashKeySource(b);
    if (this.instances.length > 1) {
      this.health = registerInstanceHealth(this.instances, env, opts.plugin);
      this.selector = new GroupSelector(this.instances, algorithm, this.health);
    }
  }

  destroy(): void {
    this.health?.destroy();
    if (this.destroyed) return;
    this.destroyed = true;
    this.transport.release();
    this.ownTokens?.close();
    this.ownNet?.close().catch(() => {});
  }

  /** next instance per R-BAL-2 with R-FB-2; undefined when none can be picked */
  private selectNext(ctx: RequestContext, st: PickState): Promise<CompiledInstance | undefined> | CompiledInstance | undefined {
    const rl = this.strategy.has('rate_limiting') ? ctx.instanceHasQuota : undefined;
    // without rate_limiting the pick is synchronous: no promise to await per request
    if (!rl) return this.pickUsable(ctx, st);
    return this.selectNextWithQuota(ctx, st, rl);
  }

  /**
   * next picked instance that may be sent to: unhealthy (chash, R-BAL-30) and
   * cooling (R-PHC-2) ones are skipped with their R-RTY-4 outcome. An open
   * trial (R-PHC-1) is picked but only noted in `st.trial`: proxy() claims it
   * right before the attempt is sent, so a request refused before that (a bad
   * body, a later plugin such as ai-rate-limiting) never holds it.
   */
  private pickUsable(ctx: RequestContext, st: PickState): CompiledInstance | undefined {
    const sel = this.selector!;
    st.trial = undefined;
    for (let n = 0; n <= this.instances.length; n++) {
      const m = sel.pick(st.tried ?? NONE_TRIED, st.hashKey);
      if (!m) return undefined;
      const s = sel.availability(m.index);
      if (s === AVAILABLE) return this.instances[m.index]!;
      if (s === TRIAL) {
        st.trial = m.name;
        return this.instances[m.index]!;
      }
      markTried(st, m.index);
      recordAttempt(ctx, m.name, s === COOLING ? 'cooling_down' : 'unhealthy', 0);
    }
    return undefined;
  }

  private async selectNextWithQuota(ctx: RequestContext, st: PickState, rl: (instanceName: string, maxTokens?: number) => Promise<boolean>): Promise<CompiledInstance | undefined> {
    for (let n = 0; n <= this.instances.length; n++) {
      const inst = this.pickUsable(ctx, st);
      if (!inst) return undefined;
      if (!(await rl(inst.name, inst.optionsMaxTokens))) {
        markTried(st, inst.index);
        st.quotaSkipped = (st.quotaSkipped ?? 0) + 1;
        recordAttempt(ctx, inst.name, 'rate_limited', 0);
        continue;
      }
      return inst;
    }
    return undefined;
  }

  /** R-PHC-1, R-PHC-2: what the attempt saw, for passive health and cool-downs */
  private observe(name: string, status: number, outcome: AttemptOutcome | undefined, headers: Record<string, string | string[] | undefined> | undefined): void {
    let kind: PassiveKind = 'status';
    if (outcome === 'timeout' || outcome === 'ttft_timeout') kind = 'timeout';
    else if (outcome === 'connect_error') kind = 'tcp_failure';
    else if (status === 499) kind = 'ignored';
    const ra = kind === 'status' && (status === 429 || status === 503) && headers ? retryAfterMs(headers['retry-after']) : undefined;
    this.health!.observe(name, kind, status, ra);
  }

  private setInstance(ctx: RequestContext, st: ReqState, inst: CompiledInstance): void {
    st.current = inst;
    const llm = ctx.llm;
    llm.instanceName = inst.name;
    llm.provider = inst.provider.name;
    const reqModel = st.body.model;
    llm.model = inst.optionsModel ?? (typeof reqModel === 'string' ? reqModel : '');
    llm.requestType = st.protocol.isStreaming(st.body) || inst.optionsStream ? 'ai_stream' : 'ai_chat';
    llm.instancePort = inst.hostInfo?.port;
    // R-QTA-2 completion bound, R-USG-4 prices (assigned only when an instance has them)
    if (inst.optionsMaxTokens !== undefined || llm.instanceMaxTokens !== undefined) llm.instanceMaxTokens = inst.optionsMaxTokens;
    if (inst.pricing !== undefined || llm.pricing !== undefined) llm.pricing = inst.pricing;
  }

  async access(ctx: RequestContext): Promise<Reply | undefined> {
    if (ctx.method === 'GET' && isModelListRequest(ctx)) return this.modelList;
    let tried: Set<number> | undefined;
    let inst: CompiledInstance | undefined;
    let hashKey: string | undefined;
    let trial: string | undefined;
    if (!this.selector) {
      inst = this.instances[0]!;
    } else {
      if (this.hashKey) hashKey = this.hashKey.compute(ctx);
      const sel: PickState = { tried: undefined, hashKey, quotaSkipped: undefined, trial: undefined };
      const picked = this.selectNext(ctx, sel);
      inst = picked instanceof Promise ? await picked : picked;
      if (!inst) {
        await parseForErrorShape(ctx, this.maxReqBody);
        const msg = exhaustedMessage(this.selector.groupCount());
        // R-QTA-3: every instance refused by ai-rate-limiting → its rejected_code
        const q = ctx.quotaRejection;
        if (q && sel.quotaSkipped === this.instances.length) {
          ctx.llm.rateLimitRejected = true;
          return q.msg !== undefined ? jsonError(q.code, { error_msg: q.msg }) : textError(q.code, msg);
        }
        return textError(503, msg);
      }
      trial = sel.trial;
      tried = sel.tried;
    }
    // R-REQ-1
    const ctRaw = ctx.headers['content-type'];
    const ct = (Array.isArray(ctRaw) ? ctRaw[0] : ctRaw) ?? 'application/json';
    if (!ct.startsWith('application/json')) return textError(400, `unsupported content-type: ${ct}, only application/json is supported`);
    // R-CAP-1: a declared length past the limit is refused before reading anything
    const limit = this.maxReqBody;
    const cl = ctx.headers['content-length'];
    if (cl !== undefined && Number(cl) > limit) return BODY_TOO_LARGE;
    let raw: Buffer;
    try {
      raw = await ctx.body(limit);
    } catch (e) {
      if ((e as { code?: string })?.code === BODY_TOO_LARGE_CODE) return BODY_TOO_LARGE;
      throw e;
    }
    // read earlier without a limit (another plugin)
    if (raw.length > limit) return BODY_TOO_LARGE;
    if (raw.length === 0) return jsonError(400, { message: 'could not get body: request body is empty' });
    let body = ctx.parsedBody;
    if (body === undefined) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        return jsonError(400, { message: `could not parse JSON request body: ${(e as Error).message}` });
      }
      ctx.parsedBody = body;
    }
    const protocol = detectClientProtocol(ctx.uri, body);
    if (!protocol) return textError(400, 'no matching AI protocol for the request');
    const st: ReqState = { engine: this, raw, body: body as Record<string, unknown>, protocol, tried, current: inst, hashKey, trial, claimed: undefined };
    (ctx as WithState)[kState] = st;
    const llm = ctx.llm;
    const m = st.body.model;
    llm.requestModel = typeof m === 'string' ? m : '';
    llm.clientProtocol = protocol.name;
    llm.logSummaries = this.logSummaries;
    llm.logPayloads = this.logPayloads;
    this.setInstance(ctx, st, inst);
    return undefined;
  }

  async proxy(ctx: RequestContext): Promise<Reply | undefined> {
    const st = (ctx as WithState)[kState];
    if (!st || st.engine !== this) return undefined;
    const multi = this.instances.length > 1;
    for (let n = 0; n < this.instances.length; n++) {
      if (st.trial !== undefined && !(await this.claimPicked(ctx, st))) return n === 0 ? textError(503, exhaustedMessage(this.selector!.groupCount())) : pageError(502);
      const inst = st.current;
      this.setInstance(ctx, st, inst);
      // R-RTY-2: the last allowed attempt answers its failure as R-FB-7 does
      let r: AttemptResult;
      try {
        r = await this.attempt(ctx, st, inst, multi && n < this.maxRetries);
      } finally {
        // R-PHC-1: an attempt that ended before reporting gives its trial back at once
        if (st.claimed !== undefined) this.giveBackTrial(st);
      }
      if (r.kind === 'done') return undefined;
      if (r.kind === 'reply') return r.reply;
      // a failure covered by the strategy (R-FB-3/4): try another instance
      markTried(st, inst.index);
      if (!multi) return r.fallback;
      const picked = this.selectNext(ctx, st);
      const next = picked instanceof Promise ? await picked : picked;
      if (!next) return pageError(502);
      st.current = next;
    }
    return pageError(502);
  }

  /**
   * R-PHC-1: claims the trial `st.current` was picked for; when another
   * request took it meanwhile, picks again (false: nothing left to pick)
   */
  private async claimPicked(ctx: RequestContext, st: ReqState): Promise<boolean> {
    for (let n = 0; n <= this.instances.length; n++) {
      const name = st.trial;
      if (name === undefined) return true;
      st.trial = undefined;
      if (this.health!.claimTrial(name)) {
        st.claimed = name;
        return true;
      }
      markTried(st, st.current.index);
      recordAttempt(ctx, name, 'unhealthy', 0);
      const picked = this.selectNext(ctx, st);
      const next = picked instanceof Promise ? await picked : picked;
      if (!next) return false;
      st.current = next;
    }
    return false;
  }

  /** R-PHC-1: the held trial is given back unused (the next request may take it) */
  private giveBackTrial(st: ReqState): void {
    const name = st.claimed!;
    st.claimed = undefined;
    this.health!.observe(name, 'ignored', 0);
  }

  /** the strategy covers a transport failure or upstream status (R-FB-3/4, R-RTY-1) */
  private covered(status: number): boolean {
    if (this.instances.length < 2) return false;
    if (status === 429) return this.strategy.has('http_429');
    if (status >= 500 && status <= 599) return this.strategy.has('http_5xx');
    return false;
  }

  /** an upstream answer with `status` falls back (R-FB-3/4, R-RTY-1, R-RTY-3) */
  private answerFallsBack(status: number, may: boolean, t0: number): boolean {
    if (!may) return false;
    if (!(this.covered(status) || (this.fallbackStatuses !== undefined && this.fallbackStatuses.has(status)))) return false;
    return this.retryWithinMs === Infinity || performance.now() - t0 <= this.retryWithinMs;
  }

  /**
   * one attempt; 'failed' only when the failure falls back (`may`: a
   * further attempt is allowed, R-RTY-2)
   */
  private async attempt(ctx: RequestContext, st: ReqState, inst: CompiledInstance, may: boolean): Promise<AttemptResult> {
    const ip = instanceProtocol(inst, st.protocol);
    if ('error' in ip) return { kind: 'reply', reply: textError(400, ip.error) };
    let base = st.body;
    if (ip.converter) {
      const conv = ip.converter.request(st.body);
      if (!conv.ok) return { kind: 'reply', reply: conv.reply };
      base = conv.body;
    }
    const model = ctx.llm.model;
    // R-BDR-1: the model is in the upstream path
    if (model === '' && inst.provider.modelRequired) return { kind: 'reply', reply: textError(400, `instance ${inst.name}: no model: set options.model or the request's model`) };
    const out = buildBody(base, inst, ip.target, base === st.body ? st.raw : undefined);
    const target = resolveTarget(inst, ip.target.name, model, ctx.llm.requestType === 'ai_stream');
    const llm = ctx.llm;
    // read only by payload logging: otherwise not kept for the life of a stream
    if (llm.logPayloads) llm.requestBody = out;
    if (!target) {
      ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: no endpoint configured for provider ${inst.provider.name} (override.endpoint is required)`);
      ctx.upstreamAttempts.push({ addr: '-', status: 502, time: 0 });
      recordAttempt(ctx, inst.name, 'connect_error', 0);
      return this.transportFailure(500, may);
    }
    const headers = buildHeaders(ctx.headers, inst);
    let payload: typeof st.raw | string;
    try {
      payload = out === st.body ? st.raw : JSON.stringify(out);
    } catch (e) {
      // JSON.parse takes any depth, JSON.stringify overflows the stack on a few thousand levels
      if (!(e instanceof RangeError)) throw e;
      return { kind: 'reply', reply: jsonError(400, { message: 'could not parse JSON request body: nested too deeply' }) };
    }
    if (inst.auth) {
      try {
        await inst.auth.authorize(headers, payload, target);
      } catch (e) {
        const reply = jsonError(500, { error_msg: (e as Error).message });
        ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: ${(e as Error).message}`);
        recordAttempt(ctx, inst.name, '500', 0);
        return may && this.covered(500) ? { kind: 'failed', status: 500, fallback: reply } : { kind: 'reply', reply };
      }
    }
    ctx.upstreamScheme = target.scheme;
    ctx.upstreamHost = target.hostHeader;
    ctx.upstreamUri = target.pathWithQuery;

    const res = ctx.res;
    if (res.destroyed) return DONE;
    const streamed = llm.requestType === 'ai_stream';
    const bodyTimeout = streamed && this.streamIdleMs !== undefined ? this.streamIdleMs : inst.timeout;
    const run = new AttemptRun(this, ctx, st, inst, ip.target, ip.converter, may, bodyTimeout, target.addrKey);
    const call = run.call = new UpstreamCall(this.transport, {
      origin: target.origin,
      path: target.pathWithQuery,
      method: 'POST',
      headers,
      body: payload,
      reset: !inst.keepalive,
      headersTimeout: inst.timeout,
      bodyTimeout,
    }, target.named ? this.net : undefined);
    // R-STR-1: cancelled at the head of a buffered answer, at the first chunk of a stream
    const ttft = run.ttft = inst.ttftMs !== undefined ? new Deadline(inst.ttftMs, ttftExpired, call).start() : undefined;
    // R-RSP-16: the client going away aborts the upstream request. The proxy
    // server's context already watches the response's 'close' (markAborted)
    // and calls the attempt it is given; that saves a listener per request.
    const abortHook = (ctx as AbortHookable).setAbortCallback;
    const onClose = abortHook ? undefined : () => run.clientAborted();
    if (abortHook) abortHook.call(ctx, run);
    else res.on('close', onClose!);
    try {
      try {
        await call.head;
      } catch (e) {
        if (run.clientGone) {
          run.finishRec(499);
          return DONE;
        }
        const c = classifyError(e);
        run.finishRec(c.kind === 'timeout' ? 504 : 502, failureOutcome(c.kind, e));
        ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: upstream request failed: ${c.message}`);
        return this.transportFailure(c.status, may, run.t0);
      }
      const status = call.status;
      if (this.answerFallsBack(status, may, run.t0)) {
        run.finishRec(status);
        call.dump();
        return { kind: 'failed', status, fallback: pageError(502) };
      }
      const ctHeader = call.headers['content-type'];
      run.status = status;
      run.contentType = Array.isArray(ctHeader) ? ctHeader[0] : ctHeader;
      if (isEventStream(run.contentType)) return await relayStream(run);
      ttft?.cancel();
      return await relayBody(run);
    } finally {
      ttft?.cancel();
      if (abortHook) abortHook.call(ctx, undefined);
      else res.off('close', onClose!);
      run.releaseActive();
    }
  }

  /**
   * AttemptRun: the attempt ended with `status` (R-PHC-1/2 passive health,
   * R-RTY-4 trail). Called once per attempt.
   */
  reportAttempt(ctx: RequestContext, st: ReqState, inst: CompiledInstance, status: number, outcome: AttemptOutcome | undefined, headers: UpstreamCall['headers'], ms: number): void {
    if (this.health) {
      // the trial's outcome is reported here: nothing to give back
      if (st.claimed === inst.name) st.claimed = undefined;
      this.observe(inst.name, status, outcome, outcome === undefined ? headers : undefined);
    }
    // R-RTY-4
    recordAttempt(ctx, inst.name, outcome ?? (status >= 200 && status < 300 ? 'ok' : String(status)), Math.round(ms));
  }

  transportFailure(status: 500 | 504, may: boolean, t0?: number): AttemptResult {
    if (may && this.covered(500) && (t0 === undefined || this.retryWithinMs === Infinity || performance.now() - t0 <= this.retryWithinMs)) {
      return { kind: 'failed', status, fallback: pageError(502) };
    }
    return { kind: 'reply', reply: pageError(status) };
  }
}

/**
 * One attempt in flight, and what the relay reads of it (Io): one object
 * with methods instead of a closure per callback, since every proxied
 * request makes at least one attempt.
 */
class AttemptRun implements Io {
  readonly t0 = performance.now();
  /** R-VAR-4: this attempt's entry in $upstream_addr / $upstream_status / $upstream_response_time */
  private readonly rec: { addr: string; status: number; time: number };
  /** R-PROM-5: the attempt's place in apisix_llm_active_connections, until it is released */
  private active: { n: number } | undefined;
  private recorded = false;
  clientGone = false;
  call!: UpstreamCall;
  ttft?: Deadline<UpstreamCall>;
  status = 0;
  contentType: string | undefined = undefined;
  readonly client: LlmProtocol;

  constructor(
    readonly host: LlmEngine,
    readonly ctx: RequestContext,
    private readonly st: ReqState,
    readonly inst: CompiledInstance,
    readonly target: LlmProtocol,
    readonly converter: Converter | undefined,
    readonly mayFallBack: boolean,
    readonly idleMs: number,
    addr: string,
  ) {
    this.client = st.protocol;
    this.rec = { addr, status: 0, time: 0 };
    ctx.upstreamAttempts.push(this.rec);
    this.active = host.metrics.trackLlmAttempt(ctx, inst.name);
  }

  /** once is enough: the attempt ended, or its finally block runs */
  releaseActive(): void {
    const a = this.active;
    if (a !== undefined) {
      a.n--;
      this.active = undefined;
    }
  }

  finishRec(status: number, outcome?: AttemptOutcome): void {
    this.releaseActive();
    const rec = this.rec;
    rec.status = status;
    const ms = performance.now() - this.t0;
    rec.time = Math.round(ms) / 1000;
    const call = this.call;
    if (call.peer !== undefined) rec.addr = call.peer;
    if (this.recorded) return;
    this.recorded = true;
    this.host.reportAttempt(this.ctx, this.st, this.inst, status, outcome, call.headers, ms);
  }

  isGone(): boolean {
    return this.clientGone;
  }

  /** the context's abort callback: the client closed the connection before the answer was complete */
  clientAborted(): void {
    if (this.ctx.res.writableFinished) return;
    this.clientGone = true;
    this.call.abort(new Error('client closed the connection'));
  }
}
