// The LLM proxy engine shared by ai-proxy-multi and ai-proxy: instance
// selection (R-BAL), body checks and request building (R-REQ), the
// attempt/fallback loop (R-FB) and response relay (R-RSP).
//
// access(ctx): picks the first instance (rate-limit aware, R-FB-2), checks
//   and parses the body once (R-REQ-1/2), fills ctx.llm (R-VAR-2).
// proxy(ctx):  runs attempts until one response is relayed (R-FB-3..10).
// Logger fields (R-APM-20, R-LOG-20/21) are built by the loggers from ctx.llm.
import type { RequestContext, Reply, CompileEnv, LlmState, UsageFields } from '../core/types.js';
import { jsonError, pageError, textError } from '../core/errors.js';
import { resolveSecret } from '../core/secrets.js';
import { compileTemplate, type CompiledTemplate } from '../core/template.js';
import type { Protocol } from './providers/index.js';
import { compileInstance, instanceProtocol, resolveTarget, type CompiledInstance } from './instance.js';
import { GroupSelector, exhaustedMessage } from './balancer/groups.js';
import type { HealthHandle, HealthTarget } from './health/types.js';
import { classifyError, llmTransportSettings, UpstreamCall, type TransportConf } from './transport.js';
import type { TransportHandle, UpstreamTransport } from '../core/transport-types.js';
import { GatewayTransport } from '../transport/index.js';
import { SseParser } from './sse.js';
import { newUsage, usageFromBody, usageFromEvent, type UsageAcc } from './usage.js';
import { topLevelMember } from './json-scan.js';
import { UsageChunkStripper, clientAskedUsage } from './usage-strip.js';
import { applyEstimate } from './estimate.js';
import { anthropicRequestToOpenai, openaiResponseToAnthropic, OpenaiToAnthropicStream } from './convert/anthropic.js';
import { openaiEmbeddingsToVertex, vertexPredictionsToOpenai } from './convert/vertex.js';
import { getGcpAccessToken } from './gcp-token.js';
import { normalizeChecks } from './health/checks-schema.js';
import { trackLlmAttempt } from '../observability/metrics.js';

export type Strategy = 'rate_limiting' | 'http_429' | 'http_5xx';

/** R-FB-1 */
export function normalizeStrategy(s: unknown): Set<Strategy> {
  if (s === undefined || s === null) return new Set();
  if (typeof s === 'string') return new Set([s === 'instance_health_and_rate_limiting' ? 'rate_limiting' : (s as Strategy)]);
  if (Array.isArray(s)) return new Set(s as Strategy[]);
  return new Set();
}

/** R-REQ-2 */
export function detectProtocol(path: string, body: unknown): Protocol | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  if (path.endsWith('/v1/messages')) return 'anthropic-messages';
  if (path.endsWith('/v1/responses') && 'input' in b) return 'openai-responses';
  if (b.messages !== null && typeof b.messages === 'object') return 'openai-chat';
  if ('input' in b) return 'openai-embeddings';
  return undefined;
}

/**
 * R-REQ-7 step 2, plus `expect` (curl sends `Expect: 100-continue` for
 * bodies over 1 KiB; the body is already read, and undici refuses the header)
 */
const SKIP_HEADERS = new Set([
  'host', 'content-length', 'accept-encoding', 'connection', 'keep-alive', 'proxy-connection',
  'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect',
]);

/**
 * `{ ...o }` for a parsed JSON body: a for-in copy is about twice as fast as
 * the spread on such objects (whose prototype is Object.prototype, so for-in
 * sees the own keys only, in the same order). An own `__proto__` key (JSON
 * allows it) would set the prototype by assignment: that case keeps the spread.
 */
function copyBody(o: Record<string, unknown>): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const k in o) {
    if (k === '__proto__') return { ...o };
    r[k] = o[k];
  }
  return r;
}

/**
 * R-REQ-4, R-REQ-5, R-REQ-9, R-PRV-5: the outgoing body object for one
 * attempt, starting from the (possibly converted) client body, which is
 * never modified. Returns the same object when nothing changes.
 */
export function buildBody(base: Record<string, unknown>, inst: Pick<CompiledInstance, 'options' | 'provider'>, target: Protocol): Record<string, unknown> {
  let out = base;
  if (inst.options) out = Object.assign(copyBody(base), inst.options);
  if (target === 'openai-chat' && out.stream === true) {
    if (out === base) out = { ...base };
    out.stream_options = { include_usage: true };
  }
  if (inst.provider.removeModel && 'model' in out) {
    if (out === base) out = { ...base };
    delete out.model;
  }
  return out;
}

/** the headers sent upstream (R-REQ-7 steps 1-4); the GCP token is added by the caller */
export function buildHeaders(clientHeaders: Record<string, string | string[] | undefined>, inst: Pick<CompiledInstance, 'authHeaders' | 'hasSecretRefs'>): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = {};
  for (const k in clientHeaders) {
    const v = clientHeaders[k];
    if (v === undefined || SKIP_HEADERS.has(k)) continue;
    h[k] = v;
  }
  const auth = inst.authHeaders;
  for (let i = 0; i < auth.length; i++) {
    const [k, v] = auth[i]!;
    h[k] = inst.hasSecretRefs ? resolveSecret(v) : v;
  }
  h['content-type'] = 'application/json';
  return h;
}

interface ReqState {
  engine: LlmEngine;
  raw: Buffer;
  body: Record<string, unknown>;
  protocol: Protocol;
  tried: Set<number>;
  current: CompiledInstance;
  hashKey?: string;
}

// the request's engine state lives on the context under a private symbol
// (a WeakMap insertion per request cost more than the property)
const kState = Symbol('switchyard.llmEngineState');
type WithState = RequestContext & { [kState]?: ReqState };
/** ProxyContext's single abort callback (src/proxy/context.ts) */
type AbortHookable = RequestContext & { setAbortCallback?: (cb: (() => void) | undefined) => void };

export interface EngineOptions {
  /** plugin name, for log lines */
  plugin: string;
}

/** what the relay functions need about one attempt */
interface Io {
  ctx: RequestContext;
  st: ReqState;
  inst: CompiledInstance;
  target: Protocol;
  converted: boolean;
  status: number;
  contentType: string | undefined;
  call: UpstreamCall;
  t0: number;
  finishRec: (status: number) => void;
  isGone: () => boolean;
}

type AttemptResult =
  | { kind: 'done' }
  | { kind: 'reply'; reply: Reply }
  | { kind: 'failed'; status: number; fallback: Reply };

/** the attempt relayed a response (or the client left): shared, never modified */
const DONE: AttemptResult = Object.freeze({ kind: 'done' });

export class LlmEngine {
  readonly instances: CompiledInstance[];
  private readonly strategy: Set<Strategy>;
  private readonly selector?: GroupSelector;
  private readonly health?: HealthHandle;
  private readonly chash: boolean;
  private readonly hashOn: string;
  private readonly hashKey?: string;
  private readonly hashTemplate?: CompiledTemplate;
  readonly logSummaries: boolean;
  readonly logPayloads: boolean;
  private readonly net: UpstreamTransport;
  /** a transport of its own when compiled without a gateway (unit tests), closed in destroy() */
  private readonly ownNet?: GatewayTransport;
  private readonly transport: TransportHandle;
  private destroyed = false;

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
    try {
      this.instances = (conf.instances as any[]).map((inst, i) => compileInstance(inst, i, t, base));
    } catch (e) {
      transport.release();
      throw e;
    }
    this.strategy = normalizeStrategy(conf.fallback_strategy);
    this.logSummaries = conf.logging?.summaries === true;
    this.logPayloads = conf.logging?.payloads === true;
    const b = conf.balancer ?? {};
    const algorithm = b.algorithm === 'chash' ? 'chash' : 'roundrobin';
    this.chash = algorithm === 'chash';
    this.hashOn = b.hash_on ?? 'vars';
    this.hashKey = b.key;
    if (algorithm === 'chash' && this.hashOn === 'vars_combinations' && typeof b.key === 'string') this.hashTemplate = compileTemplate(b.key);
    if (this.instances.length > 1) {
      const targets: HealthTarget[] = [];
      for (const c of this.instances) {
        if (!c.checks) continue;
        const h = c.hostInfo;
        if (!h) {
          env?.log?.warn(`${opts.plugin}: instance ${c.name} has no endpoint host, no health checker`);
          continue;
        }
        targets.push({
          name: c.name, scheme: h.scheme, host: h.host, port: h.port, checks: normalizeChecks(c.checks),
          index: c.index, plugin: opts.plugin, auth: { header: c.rawAuth?.header, query: c.rawAuth?.query },
        });
      }
      if (targets.length > 0 && env?.health && env.parentKey !== undefined && env.confHash !== undefined) {
        this.health = env.health.register(env.parentKey, env.confHash, targets);
      }
      this.selector = new GroupSelector(this.instances, algorithm, this.health);
    }
  }

  destroy(): void {
    this.health?.destroy();
    if (this.destroyed) return;
    this.destroyed = true;
    this.transport.release();
    this.ownNet?.close().catch(() => {});
  }

  private computeHashKey(ctx: RequestContext): string {
    let v: string | number | undefined;
    const key = this.hashKey ?? '';
    switch (this.hashOn) {
      case 'vars':
        v = ctx.getVar(key);
        break;
      case 'header': {
        const want = key.toLowerCase().replace(/_/g, '-');
        for (const k in ctx.headers) {
          if (k.replace(/_/g, '-') === want) {
            const hv = ctx.headers[k];
            v = Array.isArray(hv) ? hv[0] : hv;
            break;
          }
        }
        break;
      }
      case 'cookie': {
        const c = ctx.headers.cookie;
        if (typeof c === 'string') {
          for (const part of c.split(';')) {
            const eq = part.indexOf('=');
            if (eq > 0 && part.slice(0, eq).trim() === key) { v = part.slice(eq + 1).trim(); break; }
          }
        }
        break;
      }
      case 'consumer':
        v = ctx.consumer?.username;
        break;
      case 'vars_combinations': {
        const r = this.hashTemplate?.render((n) => ctx.getVar(n));
        v = r && r.resolved ? r.text : undefined;
        break;
      }
    }
    const s = v === undefined ? '' : String(v);
    return s === '' ? ctx.clientIp : s;
  }

  /** next instance per R-BAL-2 with R-FB-2; undefined when none can be picked */
  private selectNext(ctx: RequestContext, st: { tried: Set<number>; hashKey?: string; quotaSkipped?: number }): Promise<CompiledInstance | undefined> | CompiledInstance | undefined {
    const rl = this.strategy.has('rate_limiting') ? ctx.instanceHasQuota : undefined;
    if (!rl) {
      // without rate_limiting the pick is synchronous: no promise to await per request
      const m = this.selector!.pick(st.tried, st.hashKey);
      return m ? this.instances[m.index]! : undefined;
    }
    return this.selectNextWithQuota(st, rl);
  }

  private async selectNextWithQuota(st: { tried: Set<number>; hashKey?: string; quotaSkipped?: number }, rl: (instanceName: string, maxTokens?: number) => Promise<boolean>): Promise<CompiledInstance | undefined> {
    const sel = this.selector!;
    for (let n = 0; n <= this.instances.length; n++) {
      const m = sel.pick(st.tried, st.hashKey);
      if (!m) return undefined;
      const inst = this.instances[m.index]!;
      if (rl && !(await rl(inst.name, inst.optionsMaxTokens))) {
        st.tried.add(inst.index);
        st.quotaSkipped = (st.quotaSkipped ?? 0) + 1;
        continue;
      }
      return inst;
    }
    return undefined;
  }

  private setInstance(ctx: RequestContext, st: ReqState, inst: CompiledInstance): void {
    st.current = inst;
    const llm = ctx.llm;
    llm.instanceName = inst.name;
    llm.provider = inst.provider.name;
    const reqModel = st.body.model;
    llm.model = inst.optionsModel ?? (typeof reqModel === 'string' ? reqModel : '');
    llm.requestType = st.body.stream === true || inst.optionsStream ? 'ai_stream' : 'ai_chat';
    llm.instancePort = inst.hostInfo?.port;
    if (inst.optionsMaxTokens !== undefined || llm.instanceMaxTokens !== undefined) llm.instanceMaxTokens = inst.optionsMaxTokens;
    if (inst.pricing !== undefined || llm.pricing !== undefined) llm.pricing = inst.pricing;
  }

  async access(ctx: RequestContext): Promise<Reply | undefined> {
    const tried = new Set<number>();
    let inst: CompiledInstance | undefined;
    let hashKey: string | undefined;
    if (!this.selector) {
      inst = this.instances[0]!;
    } else {
      if (this.chash) hashKey = this.computeHashKey(ctx);
      const sel: { tried: Set<number>; hashKey?: string; quotaSkipped?: number } = { tried, hashKey };
      const picked = this.selectNext(ctx, sel);
      inst = picked instanceof Promise ? await picked : picked;
      if (!inst) {
        const msg = exhaustedMessage(this.selector.groupCount());
        // R-QTA-3: every instance refused by ai-rate-limiting → its rejected_code
        const q = ctx.quotaRejection;
        if (q && sel.quotaSkipped === this.instances.length) {
          ctx.llm.rateLimitRejected = true;
          return q.msg !== undefined ? jsonError(q.code, { error_msg: q.msg }) : textError(q.code, msg);
        }
        return textError(503, msg);
      }
    }
    // R-REQ-1
    const ctRaw = ctx.headers['content-type'];
    const ct = (Array.isArray(ctRaw) ? ctRaw[0] : ctRaw) ?? 'application/json';
    if (!ct.startsWith('application/json')) return textError(400, `unsupported content-type: ${ct}, only application/json is supported`);
    const raw = await ctx.body();
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
    const protocol = detectProtocol(ctx.uri, body);
    if (!protocol) return textError(400, 'no matching AI protocol for the request');
    const st: ReqState = { engine: this, raw, body: body as Record<string, unknown>, protocol, tried, current: inst, hashKey };
    (ctx as WithState)[kState] = st;
    const llm = ctx.llm;
    const m = st.body.model;
    llm.requestModel = typeof m === 'string' ? m : '';
    llm.clientProtocol = protocol;
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
      const inst = st.current;
      this.setInstance(ctx, st, inst);
      const r = await this.attempt(ctx, st, inst);
      if (r.kind === 'done') return undefined;
      if (r.kind === 'reply') return r.reply;
      // a failure covered by the strategy (R-FB-3/4): try another instance
      st.tried.add(inst.index);
      if (!multi) return r.fallback;
      const picked = this.selectNext(ctx, st);
      const next = picked instanceof Promise ? await picked : picked;
      if (!next) return pageError(502);
      st.current = next;
    }
    return pageError(502);
  }

  private covered(status: number): boolean {
    if (this.instances.length < 2) return false;
    if (status === 429) return this.strategy.has('http_429');
    if (status >= 500 && status <= 599) return this.strategy.has('http_5xx');
    return false;
  }

  /** one attempt; 'failed' only when the strategy covers the failure */
  private async attempt(ctx: RequestContext, st: ReqState, inst: CompiledInstance): Promise<AttemptResult> {
    const tp = instanceProtocol(inst, st.protocol);
    if ('error' in tp) return { kind: 'reply', reply: textError(400, tp.error) };
    let base = st.body;
    if (tp.converted) {
      const conv = st.protocol === 'anthropic-messages' ? anthropicRequestToOpenai(st.body) : openaiEmbeddingsToVertex(st.body);
      if (!conv.ok) return { kind: 'reply', reply: conv.reply };
      base = conv.body;
    }
    const out = buildBody(base, inst, tp.target);
    const model = ctx.llm.model;
    const target = resolveTarget(inst, tp.target, model);
    const llm = ctx.llm;
    llm.requestBody = out;
    if (!target) {
      ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: no endpoint configured for provider ${inst.provider.name} (override.endpoint is required)`);
      ctx.upstreamAttempts.push({ addr: '-', status: 502, time: 0 });
      return this.transportFailure(500);
    }
    const headers = buildHeaders(ctx.headers, inst);
    if (inst.gcp) {
      try {
        const gcp = { ...inst.gcp };
        if (typeof gcp.service_account_json === 'string') gcp.service_account_json = resolveSecret(gcp.service_account_json);
        headers.authorization = `Bearer ${await getGcpAccessToken(inst.gcpCacheKey, gcp)}`;
      } catch (e) {
        const reply = jsonError(500, { error_msg: `failed to get gcp access token: ${(e as Error).message}` });
        ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: failed to get gcp access token: ${(e as Error).message}`);
        return this.covered(500) ? { kind: 'failed', status: 500, fallback: reply } : { kind: 'reply', reply };
      }
    }
    const payload = out === st.body ? st.raw : JSON.stringify(out);
    ctx.upstreamScheme = target.scheme;
    ctx.upstreamHost = target.hostHeader;
    ctx.upstreamUri = target.pathWithQuery;

    const res = ctx.res;
    if (res.destroyed) return DONE;
    const t0 = performance.now();
    const attemptRec = { addr: target.addrKey, status: 0, time: 0 };
    ctx.upstreamAttempts.push(attemptRec);
    // R-PROM-5: one in-flight attempt in apisix_llm_active_connections until it ends
    const releaseActive = trackLlmAttempt(ctx, { node: inst.name });
    const finishRec = (status: number) => {
      releaseActive();
      attemptRec.status = status;
      attemptRec.time = Math.round(performance.now() - t0) / 1000;
      if (call.peer !== undefined) attemptRec.addr = call.peer;
    };
    const call = new UpstreamCall(this.transport, {
      origin: target.origin,
      path: target.pathWithQuery,
      method: 'POST',
      headers,
      body: payload,
      reset: !inst.keepalive,
      headersTimeout: inst.timeout,
      bodyTimeout: inst.timeout,
    }, target.named ? this.net : undefined);
    // R-RSP-16: the client going away aborts the upstream request. The proxy
    // server's context already watches the response's 'close' (markAborted);
    // its abort callback saves a second listener per request.
    let clientGone = false;
    const onClose = () => {
      if (res.writableFinished) return;
      clientGone = true;
      call.abort(new Error('client closed the connection'));
    };
    const abortHook = (ctx as AbortHookable).setAbortCallback;
    if (abortHook) abortHook.call(ctx, onClose);
    else res.on('close', onClose);
    try {
      try {
        await call.head;
      } catch (e) {
        if (clientGone) {
          finishRec(499);
          return DONE;
        }
        const c = classifyError(e);
        finishRec(c.kind === 'timeout' ? 504 : 502);
        ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: upstream request failed: ${c.message}`);
        return this.transportFailure(c.status);
      }
      const status = call.status;
      if (this.covered(status)) {
        finishRec(status);
        call.dump();
        return { kind: 'failed', status, fallback: pageError(502) };
      }
      const ctHeader = call.headers['content-type'];
      const contentType = Array.isArray(ctHeader) ? ctHeader[0] : ctHeader;
      const io: Io = { ctx, st, inst, target: tp.target, converted: tp.converted, status, contentType, call, t0, finishRec, isGone: () => clientGone };
      if (contentType !== undefined && contentType.includes('text/event-stream')) return await this.relayStream(io);
      return await this.relayBody(io);
    } finally {
      if (abortHook) abortHook.call(ctx, undefined);
      else res.off('close', onClose);
      releaseActive();
    }
  }

  private transportFailure(status: 500 | 504): AttemptResult {
    if (this.covered(500)) return { kind: 'failed', status, fallback: pageError(502) };
    return { kind: 'reply', reply: pageError(status) };
  }

  /**
   * The relayed response's own headers; the context's writer adds `Server`
   * and the extra headers (R-RL-13 quotas).
   */
  private responseHeaders(contentType: string | undefined, length?: number): Record<string, string | number> {
    const h: Record<string, string | number> = {};
    if (contentType !== undefined) h['content-type'] = contentType;
    if (length !== undefined) h['content-length'] = length;
    return h;
  }

  private publishUsage(ctx: RequestContext, acc: UsageAcc, streamed: boolean): void {
    const llm = ctx.llm;
    llm.promptTokens = acc.prompt;
    llm.completionTokens = acc.completion;
    llm.totalTokens = acc.total;
    llm.rawUsage = acc.seen ? acc.raw : undefined;
    if (!streamed || acc.seen) llm.responseText = acc.textAtUsage;
  }

  /** R-RSP-2..5: read the whole body, then relay it unchanged (or converted) */
  private relayBody(io: Io): Promise<AttemptResult> {
    const { ctx, st, inst, target, converted, status, contentType, call, t0, finishRec } = io;
    return new Promise<AttemptResult>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      call.pipe({
        data(c) {
          chunks.push(c);
          size += c.length;
        },
        error: (e) => {
          if (io.isGone()) {
            finishRec(499);
            return resolve(DONE);
          }
          const c = classifyError(e);
          finishRec(c.kind === 'timeout' ? 504 : 502);
          ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: reading upstream response failed: ${c.message}`);
          resolve(this.transportFailure(c.status));
        },
        end: () => {
          const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
          const ms = Math.round(performance.now() - t0);
          finishRec(status);
          const llm = ctx.llm;
          llm.timeToFirstTokenMs = ms;
          llm.upstreamResponseTimeMs = ms;
          const res = ctx.res;
          const lazy = llm as LlmState & { deferUsage?: (compute: () => UsageFields, computeText?: () => string | undefined) => void };
          if (lazy.deferUsage !== undefined && !(converted && status >= 200 && status < 300)) {
            // relayed unchanged: the usage is only needed when something reads
            // it (loggers, metrics, ai-rate-limiting), so parse the body then
            lazy.deferUsage(() => usageOfBody(target, buf), () => usageOfBody(target, buf, true).responseText);
            if (!res.headersSent && !res.destroyed) {
              ctx.status = status;
              ctx.writeHead(status, this.responseHeaders(contentType, buf.length));
              ctx.end(buf);
            }
            return resolve(DONE);
          }
          const acc = newUsage();
          let parsed: any;
          if (firstNonSpace(buf) === 0x7b /* { */) {
            try { parsed = JSON.parse(buf.toString('utf8')); } catch { parsed = undefined; }
          }
          let outBuf = buf;
          let outType = contentType;
          if (parsed !== undefined) {
            usageFromBody(target, parsed, acc);
            if (converted && status >= 200 && status < 300) {
              const conv = st.protocol === 'anthropic-messages'
                ? openaiResponseToAnthropic(parsed, llm.model)
                : vertexPredictionsToOpenai(parsed, llm.model);
              if (!conv.ok) {
                this.publishUsage(ctx, acc, false);
                return resolve({ kind: 'reply', reply: conv.reply });
              }
              outBuf = Buffer.from(JSON.stringify(conv.body));
              outType = 'application/json';
              if (target === 'vertex-predict') {
                const acc2 = newUsage();
                usageFromBody('openai-embeddings', conv.body, acc2);
                acc.prompt = acc2.prompt; acc.completion = 0; acc.total = acc2.total; acc.raw = acc2.raw; acc.seen = acc2.seen;
              }
            }
          }
          this.publishUsage(ctx, acc, false);
          if (!res.headersSent && !res.destroyed) {
            ctx.status = status;
            ctx.writeHead(status, this.responseHeaders(outType, outBuf.length));
            ctx.end(outBuf);
          }
          resolve(DONE);
        },
      });
    });
  }

  /** R-RSP-10..16: relay chunks as they arrive, parse SSE alongside */
  private relayStream(io: Io): Promise<AttemptResult> {
    const { ctx, inst, target, converted, status, contentType, call, t0, finishRec } = io;
    const res = ctx.res;
    const llm = ctx.llm;
    const acc = newUsage();
    const wantText = this.logPayloads;
    const converter = converted && io.st.protocol === 'anthropic-messages' ? new OpenaiToAnthropicStream(llm.model) : undefined;
    // R-USG-1: the usage chunk asked for upstream is not relayed to a client that did not ask
    const strip = !converter && target === 'openai-chat' && !clientAskedUsage(io.st.body) ? new UsageChunkStripper() : undefined;
    // R-USG-2: what was relayed, kept (references only) until the stream shows its usage
    const kept: Buffer[] | undefined = status >= 200 && status < 300 ? [] : undefined;
    let pendingOut = '';
    const parser = new SseParser((ev) => {
      usageFromEvent(target, ev.event, ev.data, acc, wantText || !!converter);
      if (converter) pendingOut += converter.push(ev.data);
    });
    // what an event must contain to matter when only the usage is read
    const skipNeedle = !wantText && !converter ? USAGE_NEEDLES[target] : undefined;
    let headWritten = false;
    const writeHead = () => {
      if (headWritten) return;
      headWritten = true;
      ctx.status = status;
      ctx.writeHead(status, this.responseHeaders(converter ? 'text/event-stream' : contentType));
      res.flushHeaders();
    };
    if (!converter) writeHead();
    let first = true;
    let waitingDrain = false;
    const onDrain = () => {
      waitingDrain = false;
      call.resume();
    };
    const write = (data: Buffer | string) => {
      if (res.destroyed) return;
      if (!ctx.write(data) && !waitingDrain) {
        waitingDrain = true;
        call.pause();
        res.once('drain', onDrain);
      }
    };
    return new Promise<AttemptResult>((resolve) => {
      const done = (r: AttemptResult) => {
        this.publishUsage(ctx, acc, true);
        res.off('drain', onDrain);
        // R-USG-2: no usage in the stream (ignored stream_options, client left, stream broke): estimate
        if (!acc.seen && kept !== undefined && kept.length > 0) applyEstimate(ctx, io.st.body, target, kept).then(() => resolve(r), () => resolve(r));
        else resolve(r);
      };
      call.pipe({
        data(chunk) {
          if (first) {
            first = false;
            llm.timeToFirstTokenMs = Math.round(performance.now() - t0);
          }
          if (kept !== undefined) {
            if (!acc.seen) kept.push(chunk);
            else if (kept.length > 0) kept.length = 0;
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
            if (skipNeedle === undefined || !parser.canSkip(chunk, skipNeedle)) parser.push(chunk);
          }
        },
        end: () => {
          parser.end();
          llm.upstreamResponseTimeMs = Math.round(performance.now() - t0);
          finishRec(status);
          if (converter) {
            const tail = converter.end();
            if (typeof tail !== 'string') {
              if (!headWritten) return done({ kind: 'reply', reply: tail });
            } else if (tail) {
              writeHead();
              write(tail);
            }
            writeHead();
          }
          const rest = strip?.end();
          if (rest !== undefined) write(rest);
          if (!res.destroyed) ctx.end();
          done(DONE);
        },
        error: (e) => {
          llm.upstreamResponseTimeMs = Math.round(performance.now() - t0);
          if (io.isGone()) {
            finishRec(status);
            return done(DONE);
          }
          const c = classifyError(e);
          finishRec(c.kind === 'timeout' ? 504 : 502);
          if (!headWritten) {
            ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: reading upstream stream failed: ${c.message}`);
            return done(this.transportFailure(c.status));
          }
          // R-RSP-15: close the client connection without the terminating chunk
          ctx.log.error(`${this.opts.plugin}: instance ${inst.name}: upstream stream failed after the response started: ${c.message}`);
          res.destroy();
          done(DONE);
        },
      });
    });
  }
}

/** usageFromEvent reads nothing from an event of these protocols without these bytes */
const USAGE_NEEDLES: Partial<Record<Protocol, Buffer>> = {
  'openai-chat': Buffer.from('"usage"'),
  'openai-responses': Buffer.from('response.completed'),
};

/**
 * The usage fields publishUsage(ctx, acc, false) sets for a relayed JSON
 * body. Without `withText` only the top-level `usage` member is parsed
 * (responseText is then left undefined).
 */
function usageOfBody(target: Protocol, buf: Buffer, withText = false): UsageFields {
  const acc = newUsage();
  if (!withText) {
    const scan = topLevelMember(buf, 'usage');
    if (scan.ok) {
      if (scan.found) usageFromBody(target, { usage: scan.value }, acc);
      return { promptTokens: acc.prompt, completionTokens: acc.completion, totalTokens: acc.total, rawUsage: acc.seen ? acc.raw : undefined };
    }
  }
  if (firstNonSpace(buf) === 0x7b /* { */) {
    let parsed: unknown;
    try { parsed = JSON.parse(buf.toString('utf8')); } catch { parsed = undefined; }
    if (parsed !== undefined) usageFromBody(target, parsed, acc);
  }
  return {
    promptTokens: acc.prompt,
    completionTokens: acc.completion,
    totalTokens: acc.total,
    rawUsage: acc.seen ? acc.raw : undefined,
    responseText: acc.textAtUsage,
  };
}

function firstNonSpace(b: Buffer): number {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c;
  }
  return -1;
}
