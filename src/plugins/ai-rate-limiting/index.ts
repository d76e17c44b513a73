// ai-rate-limiting (spec 06): token quotas for requests served by ai-proxy /
// ai-proxy-multi. Checked before sending (access phase, and during
// rate-limit-aware selection through ctx.instanceHasQuota, R-FB-2), charged
// after the response (log phase).
import type { PluginDef, RequestContext, Reply, CompileEnv, LlmState } from '../../core/types.js';
import type { Admission, SharedState, SyncQuotaOps } from '../../state/types.js';
import { countPromptTokens } from '../../llm/tokens.js';
import type { Logger } from '../../core/log.js';
import { jsonError, pageError } from '../../core/errors.js';
import { compileTemplate, type CompiledTemplate } from '../../core/template.js';
import type { RedisSettings } from '../../core/shared-state.js';
import { resolveSecret } from '../../core/secrets.js';
import { rawUsageKnown } from '../../core/llm-cost.js';
import { compileCostExpr, type CostExpr } from './cost-expr.js';
import { schema, policyRequired } from './schema.js';

export { schema };

export interface AiRateLimitingConf {
  limit?: number | string;
  time_window?: number | string;
  instances?: { name: string; limit: number | string; time_window: number | string }[];
  rules?: { count: number | string; time_window: number | string; key: string; header_prefix?: string }[];
  limit_strategy?: 'total_tokens' | 'prompt_tokens' | 'completion_tokens' | 'expression';
  cost_expr?: string;
  show_limit_quota_header?: boolean;
  rejected_code?: number;
  rejected_msg?: string;
  policy?: 'local' | 'redis' | 'redis-cluster';
  allow_degradation?: boolean;
  redis_host?: string;
  redis_port?: number;
  redis_username?: string;
  redis_password?: string;
  redis_database?: number;
  redis_timeout?: number;
  redis_ssl?: boolean;
  redis_ssl_verify?: boolean;
  redis_keepalive_timeout?: number;
  redis_keepalive_pool?: number;
  redis_cluster_nodes?: string[];
  redis_cluster_name?: string;
  redis_cluster_ssl?: boolean;
  redis_cluster_ssl_verify?: boolean;
}

/** a number given literally or as a template resolved per request (R-RL-15) */
type NumSource = { value: number } | { tpl: CompiledTemplate; src: string };

interface Quota {
  limit: NumSource;
  window: NumSource;
}

interface Rule {
  index: number;
  key: CompiledTemplate;
  count: NumSource;
  window: NumSource;
  prefix: string;
}

interface ResolvedRule {
  rule: Rule;
  key: string;
  count: number;
  window: number;
}

export interface CompiledRateLimit {
  readonly conf: AiRateLimitingConf;
  readonly state: SharedState;
  readonly keyBase: string;
  readonly top?: Quota;
  readonly instances: Map<string, Quota>;
  readonly rules?: Rule[];
  readonly strategy: NonNullable<AiRateLimitingConf['limit_strategy']>;
  readonly costExpr?: CostExpr;
  readonly showHeaders: boolean;
  readonly rejectedCode: number;
  readonly rejectedMsg?: string;
  readonly allowDegradation: boolean;
  readonly log: Logger;
  /** R-QTA-2: the estimate depends on the prompt (strategy or cost_expr reads it) */
  readonly needsPrompt: boolean;
  /** R-QTA-3: what ai-proxy-multi answers when every instance is out of quota */
  readonly rejectionInfo: { code: number; msg?: string };
  /** per instance name: its counter key and quota header names, built on first use (see namesOf) */
  readonly names: Map<string, InstanceNames>;
  release?: () => void;
}

/** R-RL-13 header names of one quota */
interface HeaderNames {
  limit: string;
  remaining: string;
  reset: string;
}

interface InstanceNames {
  key: string;
  /** undefined: no quota headers (show_limit_quota_header false, or a name that is no header token) */
  headers?: HeaderNames;
}

/** instance names come from the configuration, so the memo stays small; the cap only guards against a runaway */
const MAX_MEMO_NAMES = 1024;

/**
 * The counter key and header names of instance `name`, built once per
 * compiled configuration rather than concatenated on every request (a fresh
 * key string is also hashed again by every Map lookup of the counter).
 */
function namesOf(c: CompiledRateLimit, name: string): InstanceNames {
  let n = c.names.get(name);
  if (n === undefined) {
    if (c.names.size >= MAX_MEMO_NAMES) c.names.clear();
    n = {
      key: instanceKey(c, name),
      headers: c.showHeaders && isHeaderToken(name)
        ? { limit: `X-AI-RateLimit-Limit-${name}`, remaining: `X-AI-RateLimit-Remaining-${name}`, reset: `X-AI-RateLimit-Reset-${name}` }
        : undefined,
    };
    c.names.set(name, n);
  }
  return n;
}

/** cost_expr names the R-QTA-2 estimate fills from the prompt count */
const PROMPT_NAMES = new Set(['prompt_tokens', 'total_tokens', 'input_tokens']);

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** can `name` be used inside a header name (R-RL-13: otherwise the headers are omitted) */
export function isHeaderToken(name: string): boolean {
  return TOKEN_RE.test(name);
}

function numSource(v: number | string): NumSource {
  if (typeof v === 'number') return { value: v };
  return { tpl: compileTemplate(v), src: v };
}

/** resolve a limit/window; undefined when a template does not yield a number (R-RL-15) */
export function resolveNum(src: NumSource, ctx: Pick<RequestContext, 'getVar'>): number | undefined {
  if ('value' in src) return src.value;
  const text = src.tpl.render((n) => ctx.getVar(n)).text.trim();
  if (text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** R-RL-3: the quota that applies to instance `name` (rules excluded) */
export function quotaFor(c: Pick<CompiledRateLimit, 'instances' | 'top'>, name: string): Quota | undefined {
  return c.instances.get(name) ?? c.top;
}

/** `$ENV://NAME` references in the redis credentials are resolved (as R-SEC-2 does for API keys) */
const secret = (v: string | undefined) => (v === undefined || v === '' ? undefined : resolveSecret(v));

function redisSettings(conf: AiRateLimitingConf): RedisSettings {
  if (conf.policy === 'redis-cluster') {
    return {
      policy: 'redis-cluster',
      clusterNodes: conf.redis_cluster_nodes ?? [],
      clusterName: conf.redis_cluster_name,
      password: secret(conf.redis_password),
      ssl: conf.redis_cluster_ssl ?? false,
      sslVerify: conf.redis_cluster_ssl_verify ?? false,
      timeoutMs: conf.redis_timeout ?? 1000,
      keepaliveTimeoutMs: conf.redis_keepalive_timeout ?? 10000,
      keepalivePool: conf.redis_keepalive_pool ?? 100,
    };
  }
  return {
    policy: 'redis',
    host: conf.redis_host,
    port: conf.redis_port ?? 6379,
    username: secret(conf.redis_username),
    password: secret(conf.redis_password),
    database: conf.redis_database ?? 0,
    ssl: conf.redis_ssl ?? false,
    sslVerify: conf.redis_ssl_verify ?? false,
    timeoutMs: conf.redis_timeout ?? 1000,
    keepaliveTimeoutMs: conf.redis_keepalive_timeout ?? 10000,
    keepalivePool: conf.redis_keepalive_pool ?? 100,
  };
}

export function compileRateLimit(conf: AiRateLimitingConf, env: Pick<CompileEnv, 'parentKey' | 'confHash' | 'state' | 'redis' | 'log'>): CompiledRateLimit {
  let state = env.state;
  let release: (() => void) | undefined;
  if (conf.policy === 'redis' || conf.policy === 'redis-cluster') {
    const shared = env.redis.acquire(redisSettings(conf), { log: env.log, label: 'ai-rate-limiting', keyPrefix: 'switchyard:ai-rate-limiting:' });
    state = shared.state;
    release = shared.release;
  }
  const instances = new Map<string, Quota>();
  for (const i of conf.instances ?? []) {
    if (!instances.has(i.name)) instances.set(i.name, { limit: numSource(i.limit), window: numSource(i.time_window) });
  }
  const top = conf.limit !== undefined && conf.time_window !== undefined
    ? { limit: numSource(conf.limit), window: numSource(conf.time_window) }
    : undefined;
  const rules = conf.rules?.map((r, i): Rule => ({
    index: i + 1,
    key: compileTemplate(r.key),
    count: numSource(r.count),
    window: numSource(r.time_window),
    prefix: r.header_prefix ?? String(i + 1),
  }));
  const strategy = conf.limit_strategy ?? 'total_tokens';
  const costExpr = strategy === 'expression' && conf.cost_expr ? compileCostExpr(conf.cost_expr) : undefined;
  const needsPrompt = strategy === 'expression'
    ? (costExpr?.names ?? []).some((n) => PROMPT_NAMES.has(n))
    : strategy !== 'completion_tokens';
  return {
    conf,
    state,
    keyBase: `${env.parentKey}|${env.confHash}`,
    top,
    instances,
    rules,
    strategy,
    costExpr,
    showHeaders: conf.show_limit_quota_header ?? true,
    rejectedCode: conf.rejected_code ?? 503,
    rejectedMsg: conf.rejected_msg,
    allowDegradation: conf.allow_degradation ?? false,
    log: env.log,
    needsPrompt,
    rejectionInfo: { code: conf.rejected_code ?? 503, msg: conf.rejected_msg },
    names: new Map(),
    release,
  };
}

export const instanceKey = (c: CompiledRateLimit, name: string) => `${c.keyBase}|i|${name}`;
export const ruleKey = (c: CompiledRateLimit, r: ResolvedRule) => `${c.keyBase}|r${r.rule.index}|${r.key}`;

export type CheckResult =
  | { kind: 'allow'; unlimited?: boolean }
  | { kind: 'reject' }
  /** the check itself failed: a reply to send (R-RL-15 500 page, R-RL-30 failed to limit count) */
  | { kind: 'error'; reply: Reply; storeFailure: boolean };

const ALLOW: CheckResult = Object.freeze({ kind: 'allow' });
const UNLIMITED: CheckResult = Object.freeze({ kind: 'allow', unlimited: true });
const REJECT: CheckResult = Object.freeze({ kind: 'reject' });

const FAILED_TO_LIMIT = (): Reply => jsonError(500, { error_msg: 'failed to limit count' });

function setHeaders(ctx: RequestContext, names: HeaderNames, limit: number, remaining: number, reset: number): void {
  const h = ctx.extraResponseHeaders;
  h[names.limit] = String(limit);
  h[names.remaining] = String(Math.max(0, remaining));
  h[names.reset] = String(Math.max(0, reset));
}

// ---- R-QTA-1/2: reservations ----

/** one reservation held by a request on one counter */
interface Held {
  key: string;
  id: string;
  amount: number;
  window: number;
}

/** what ai-rate-limiting keeps about one request (on the context, under a symbol) */
interface ReqQuota {
  c: CompiledRateLimit;
  /** the instance whose counter holds `inst` */
  instName?: string;
  inst?: Held;
  rules?: ResolvedRule[];
  ruleHeld?: Held[];
  /** R-QTA-2 estimate: cheap upper bound and, once counted, the exact figure */
  cheap?: number;
  exact?: number;
  settled?: boolean;
}

const kQuota = Symbol('switchyard.aiRateLimiting');
type WithQuota = RequestContext & { [kQuota]?: ReqQuota };

function reqQuota(c: CompiledRateLimit, ctx: RequestContext): ReqQuota {
  const w = ctx as WithQuota;
  let r = w[kQuota];
  if (r === undefined || r.c !== c) {
    r = { c };
    w[kQuota] = r;
  }
  return r;
}

/**
 * A cheap upper bound is reserved only while the counter has room for this
 * many times that bound (R-QTA-2): far from the limit the exact prompt
 * count cannot change any decision, so the tokenizer is not run; closer to
 * it the exact estimate is reserved.
 */
export const CHEAP_ROOM_FACTOR = 64;

/** R-QTA-2 C: what bounds the completion */
function completionBound(body: Record<string, unknown> | undefined, instMax: number | undefined): number {
  if (instMax !== undefined) return instMax;
  if (body) {
    const v = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens;
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  }
  return 256;
}

/** R-QTA-2: the estimated cost for prompt P and completion bound C under the strategy */
export function estimateCost(c: Pick<CompiledRateLimit, 'strategy' | 'costExpr'>, p: number, comp: number): number {
  let v: number;
  switch (c.strategy) {
    case 'prompt_tokens': v = p; break;
    case 'completion_tokens': v = comp; break;
    case 'expression':
      try {
        v = c.costExpr
          ? c.costExpr.cost({ prompt_tokens: p, completion_tokens: comp, total_tokens: p + comp, input_tokens: p, output_tokens: comp })
          : p + comp;
      } catch {
        v = p + comp;
      }
      break;
    default: v = p + comp;
  }
  return v >= 1 ? Math.ceil(v) : 1;
}

interface ReqBody {
  body?: Record<string, unknown>;
  bytes: number;
}

const asObject = (b: unknown): Record<string, unknown> | undefined => (b && typeof b === 'object' && !Array.isArray(b) ? b as Record<string, unknown> : undefined);

/** the body when the AI plugin's access phase already read and parsed it (it runs first): no promise needed */
function bodyNow(ctx: RequestContext): ReqBody | undefined {
  const raw = ctx.bodyRead;
  if (raw === undefined || (raw.length > 0 && ctx.parsedBody === undefined)) return undefined;
  return { body: asObject(ctx.parsedBody), bytes: raw.length };
}

async function requestBody(ctx: RequestContext): Promise<ReqBody> {
  let b = ctx.parsedBody;
  let bytes = 0;
  try {
    const raw = await ctx.body();
    bytes = raw.length;
    if (b === undefined && raw.length > 0) {
      try {
        b = JSON.parse(raw.toString('utf8'));
        ctx.parsedBody = b;
      } catch { /* the AI plugin answers 400 */ }
    }
  } catch { /* no body: the estimate uses the completion bound */ }
  return { body: asObject(b), bytes };
}

/** the cheap upper bound (R-QTA-2 with P ≤ body bytes: a token is at least one byte) */
async function cheapEstimate(c: CompiledRateLimit, ctx: RequestContext, rq: ReqQuota, instMax: number | undefined): Promise<number> {
  return cheapFrom(c, rq, await requestBody(ctx), instMax);
}

function cheapFrom(c: CompiledRateLimit, rq: ReqQuota, { body, bytes }: ReqBody, instMax: number | undefined): number {
  const comp = completionBound(body, instMax);
  const est = c.needsPrompt ? estimateCost(c, Math.max(1, bytes), comp) : estimateCost(c, 1, comp);
  rq.cheap = est;
  return est;
}

/** the exact estimate: prompt tokens counted with the tokenizer (loaded on first use) */
async function exactEstimate(c: CompiledRateLimit, ctx: RequestContext, rq: ReqQuota, instMax: number | undefined): Promise<number> {
  const { body } = await requestBody(ctx);
  const comp = completionBound(body, instMax);
  let p = 1;
  if (c.needsPrompt) {
    try {
      p = Math.max(1, await countPromptTokens(body, ctx.llm.model || (typeof body?.model === 'string' ? body.model : undefined)));
    } catch (err) {
      ctx.log.error(`ai-rate-limiting: counting prompt tokens failed: ${(err as Error).message}`);
      p = rq.cheap ?? 1;
    }
  }
  const est = estimateCost(c, p, comp);
  rq.exact = est;
  return est;
}

/**
 * Reserve on one counter (R-QTA-1). Returns the admission (undefined when
 * the store failed) and the reservation held.
 */
async function reserveOn(c: CompiledRateLimit, ctx: RequestContext, rq: ReqQuota, key: string, limit: number, instMax: number | undefined): Promise<Reserved | undefined> {
  try {
    let a: Admission;
    let amount: number;
    if (rq.exact !== undefined || !c.needsPrompt) {
      amount = rq.exact ?? rq.cheap ?? await cheapEstimate(c, ctx, rq, instMax);
      a = await c.state.reserve(key, amount, limit);
    } else {
      amount = rq.cheap ?? await cheapEstimate(c, ctx, rq, instMax);
      a = await c.state.reserve(key, amount, limit, amount * CHEAP_ROOM_FACTOR);
      if (a.tooClose) {
        amount = await exactEstimate(c, ctx, rq, instMax);
        a = await c.state.reserve(key, amount, limit);
      }
    }
    return reserved(a, key, amount);
  } catch {
    // logged once per burst by the state
    return undefined;
  }
}

interface Reserved {
  a: Admission;
  held?: Held;
}

function reserved(a: Admission, key: string, amount: number): Reserved {
  return { a, held: a.admitted && a.id !== undefined ? { key, id: a.id, amount, window: 0 } : undefined };
}

/**
 * reserveOn() on a store in this process with the body already read, at
 * once; undefined when only the asynchronous path can answer (the body is
 * not read yet, or the counter is too close to its limit for the cheap
 * bound and the prompt must be counted, R-QTA-2)
 */
function reserveNow(c: CompiledRateLimit, ctx: RequestContext, rq: ReqQuota, key: string, limit: number, instMax: number | undefined, ops: SyncQuotaOps): Reserved | undefined {
  let amount = rq.exact ?? rq.cheap;
  if (amount === undefined) {
    const b = bodyNow(ctx);
    if (b === undefined) return undefined;
    amount = cheapFrom(c, rq, b, instMax);
  }
  if (rq.exact !== undefined || !c.needsPrompt) return reserved(ops.reserve(key, amount, limit), key, amount);
  const a = ops.reserve(key, amount, limit, amount * CHEAP_ROOM_FACTOR);
  return a.tooClose ? undefined : reserved(a, key, amount);
}

function releaseHeld(c: CompiledRateLimit, h: Held | undefined): void {
  if (!h) return;
  c.state.settle(h.key, h.id, h.amount, 0, 1).catch(() => { /* logged by the state */ });
}

/**
 * Admission of instance `name` (R-RL-10 with R-QTA-1): admitted when
 * limit − used − reserved ≥ 1; an admitted request reserves its estimate.
 * Sets that instance's quota headers (R-RL-13): remaining = limit − used −
 * what the others in flight hold, before this request's own reservation.
 */
export function checkInstance(c: CompiledRateLimit, ctx: RequestContext, name: string, instMax?: number): CheckResult | Promise<CheckResult> {
  const q = quotaFor(c, name);
  if (!q) return UNLIMITED;
  const limit = resolveNum(q.limit, ctx);
  const window = resolveNum(q.window, ctx);
  if (limit === undefined || window === undefined || window <= 0) {
    ctx.log.error(`ai-rate-limiting: limit/time_window of instance "${name}" did not resolve to a number`);
    return { kind: 'error', reply: pageError(500), storeFailure: false };
  }
  const rq = reqQuota(c, ctx);
  if (rq.instName === name && rq.inst) return ALLOW;
  const names = namesOf(c, name);
  const ops = c.state.now;
  const now = ops !== undefined ? reserveNow(c, ctx, rq, names.key, limit, instMax, ops) : undefined;
  if (now !== undefined) return admitInstance(c, ctx, rq, name, names, limit, window, now);
  return reserveOn(c, ctx, rq, names.key, limit, instMax).then((r) => admitInstance(c, ctx, rq, name, names, limit, window, r));
}

/** checkInstance() once the reservation is made (`r` undefined: the store failed) */
function admitInstance(c: CompiledRateLimit, ctx: RequestContext, rq: ReqQuota, name: string, names: InstanceNames, limit: number, window: number, r: Reserved | undefined): CheckResult {
  if (!r) {
    if (c.allowDegradation) return ALLOW;
    return { kind: 'error', reply: FAILED_TO_LIMIT(), storeFailure: true };
  }
  const { a, held } = r;
  if (held) {
    // a request is served by one instance at a time: a reservation on the
    // instance it leaves (fallback, R-FB-2) is released
    if (rq.inst) releaseHeld(c, rq.inst);
    held.window = Math.ceil(window);
    rq.inst = held;
    rq.instName = name;
  }
  if (names.headers !== undefined) {
    const remaining = limit - a.used - (a.reserved ?? 0);
    setHeaders(ctx, names.headers, limit, a.admitted ? remaining : 0, a.resetIn ?? Math.ceil(window));
  }
  return a.admitted ? ALLOW : REJECT;
}

/** R-RL-20: resolve the rules that apply to this request (keys rendered, numbers resolved) */
export function resolveRules(c: CompiledRateLimit, ctx: Pick<RequestContext, 'getVar'>): ResolvedRule[] {
  const out: ResolvedRule[] = [];
  for (const rule of c.rules ?? []) {
    const { text, resolved } = rule.key.render((n) => ctx.getVar(n));
    if (!resolved) continue;
    const count = resolveNum(rule.count, ctx);
    const window = resolveNum(rule.window, ctx);
    if (count === undefined || window === undefined || window <= 0) continue;
    out.push({ rule, key: text, count, window });
  }
  return out;
}

export async function checkRules(c: CompiledRateLimit, ctx: RequestContext): Promise<CheckResult> {
  const rules = resolveRules(c, ctx);
  const rq = reqQuota(c, ctx);
  rq.rules = rules;
  if (rules.length === 0) {
    ctx.log.error('ai-rate-limiting: no rule applies to the request (keys or numbers did not resolve)');
    return { kind: 'error', reply: pageError(500), storeFailure: false };
  }
  const held: Held[] = [];
  rq.ruleHeld = held;
  for (const r of rules) {
    const res = await reserveOn(c, ctx, rq, ruleKey(c, r), r.count, undefined);
    if (!res) {
      for (const h of held) releaseHeld(c, h);
      held.length = 0;
      if (c.allowDegradation) return { kind: 'allow' };
      return { kind: 'error', reply: FAILED_TO_LIMIT(), storeFailure: true };
    }
    const { a } = res;
    if (res.held) {
      res.held.window = Math.ceil(r.window);
      held.push(res.held);
    }
    const p = r.rule.prefix;
    if (c.showHeaders && isHeaderToken(p)) {
      setHeaders(ctx, {
        limit: `X-AI-${p}-RateLimit-Limit`,
        remaining: `X-AI-${p}-RateLimit-Remaining`,
        reset: `X-AI-${p}-RateLimit-Reset`,
      }, r.count, a.admitted ? r.count - a.used - (a.reserved ?? 0) : 0, a.resetIn ?? Math.ceil(r.window));
    }
    if (!a.admitted) {
      for (const h of held) releaseHeld(c, h);
      held.length = 0;
      return { kind: 'reject' };
    }
  }
  return { kind: 'allow' };
}

/** the access phase's answer to a check */
function afterCheck(c: CompiledRateLimit, ctx: RequestContext, r: CheckResult): Reply | undefined {
  if (r.kind === 'allow') {
    if (c.state.remote === true && (ctx as WithQuota)[kQuota]?.c === c) settleBeforeEnd(c, ctx);
    return undefined;
  }
  ctx.llm.rateLimitRejected = true;
  return r.kind === 'error' ? r.reply : rejection(c);
}

function rejection(c: CompiledRateLimit): Reply {
  return c.rejectedMsg !== undefined ? jsonError(c.rejectedCode, { error_msg: c.rejectedMsg }) : pageError(c.rejectedCode);
}

/** R-RL-7 / R-RL-9: the cost of the request, or undefined when there is no usage (R-RL-8) */
export function costOf(c: Pick<CompiledRateLimit, 'strategy' | 'costExpr'>, llm: RequestContext['llm']): { cost?: number; error?: string } {
  const hasUsage = rawUsageKnown(llm) || llm.totalTokens > 0 || llm.promptTokens > 0 || llm.completionTokens > 0;
  if (!hasUsage) return { error: 'failed to get token usage for llm service' };
  switch (c.strategy) {
    case 'prompt_tokens': return { cost: llm.promptTokens };
    case 'completion_tokens': return { cost: llm.completionTokens };
    case 'expression': {
      if (!c.costExpr) return { error: 'cost_expr is not configured' };
      if (!llm.rawUsage) return { error: 'failed to get token usage for llm service' };
      try {
        return { cost: c.costExpr.cost(llm.rawUsage) };
      } catch (err) {
        return { error: `failed to evaluate cost_expr: ${(err as Error).message}` };
      }
    }
    default: return { cost: llm.totalTokens || llm.promptTokens + llm.completionTokens };
  }
}

/**
 * Log phase (R-RL-7, R-QTA-1): every reservation the request holds is
 * replaced by the real cost (or released when nothing is charged); a
 * counter charged without a reservation (fallback to an instance that was
 * not checked) is charged as before.
 */
function settleRequest(c: CompiledRateLimit, ctx: RequestContext): Promise<void> | undefined {
  const rq = (ctx as WithQuota)[kQuota];
  const mine = rq !== undefined && rq.c === c ? rq : undefined;
  if (mine) {
    if (mine.settled) return undefined;
    mine.settled = true;
  }
  const name = ctx.llm.instanceName;
  const rejected = ctx.llm.rateLimitRejected === true;
  let cost = 0;
  if (name && !rejected && (c.rules || quotaFor(c, name))) {
    const r = costOf(c, ctx.llm);
    if (r.error !== undefined) ctx.log.error(r.error);
    else if (r.cost && r.cost > 0) cost = r.cost;
  }
  // a store in this process answers at once (SharedState.now): no promise to wait for
  const store: QuotaWriter = c.state.now ?? c.state;
  const out: unknown[] = [];
  if (c.rules) {
    if (mine?.ruleHeld && mine.ruleHeld.length > 0) {
      for (const h of mine.ruleHeld) out.push(store.settle(h.key, h.id, h.amount, cost, h.window));
    } else if (cost > 0 && name && !rejected) {
      const rules = mine?.rules ?? resolveRules(c, ctx);
      for (const r of rules) out.push(store.charge(ruleKey(c, r), cost, Math.ceil(r.window)));
    }
  } else {
    const h = mine?.inst;
    if (h && mine!.instName === name) {
      out.push(store.settle(h.key, h.id, h.amount, cost, h.window));
    } else {
      if (h) out.push(store.settle(h.key, h.id, h.amount, 0, h.window));
      if (cost > 0 && name && !rejected) {
        const q = quotaFor(c, name);
        const window = q ? resolveNum(q.window, ctx) : undefined;
        if (window !== undefined && window > 0) out.push(store.charge(namesOf(c, name).key, cost, Math.ceil(window)));
      }
    }
  }
  if (store !== c.state || out.length === 0) return undefined;
  // failures are logged once per burst by the state
  if (out.length === 1) return (out[0] as Promise<unknown>).then(noop, noop);
  return Promise.allSettled(out).then(noop);
}

/** what settleRequest() writes with: the store's asynchronous operations or their immediate form */
interface QuotaWriter {
  settle(key: string, id: string, amount: number, cost: number, windowSec: number): unknown;
  charge(key: string, amount: number, windowSec: number): unknown;
}

const noop = (): void => {};

function chargeFailed(ctx: RequestContext, err: unknown): void {
  ctx.log.error(`ai-rate-limiting: failed to charge: ${(err as Error).message}`);
}

/**
 * R-WRK-2: with the counters in the primary, the settle is made before the
 * answer's last byte leaves, so a sequential client's next request, whatever
 * worker takes it, sees this one's charge (exactly as with one worker). An
 * answer that showed no usage is estimated after it ended (R-USG-2) and
 * settled in the log phase instead.
 */
function settleBeforeEnd(c: CompiledRateLimit, ctx: RequestContext): void {
  const prev = ctx.beforeEnd;
  ctx.beforeEnd = () => {
    const p = prev?.();
    const llm = ctx.llm;
    const mine = settleIfKnown(c, ctx, llm);
    if (p === undefined) return mine;
    if (mine === undefined) return p;
    return Promise.all([p, mine]);
  };
}

function settleIfKnown(c: CompiledRateLimit, ctx: RequestContext, llm: LlmState): Promise<void> | undefined {
  // a successful answer without usage is estimated after it ended (R-USG-2):
  // settled then; anything else (errors, rejections) settles now
  if (!rawUsageKnown(llm) && ctx.status >= 200 && ctx.status < 300) return undefined;
  return settleRequest(c, ctx)?.catch((err) => chargeFailed(ctx, err));
}

export const aiRateLimiting: PluginDef<CompiledRateLimit> = {
  name: 'ai-rate-limiting',
  priority: 1030,
  version: 0.1,
  schema,

  check(conf: AiRateLimitingConf): string | undefined {
    for (const attr of policyRequired[conf.policy ?? 'local'] ?? []) {
      if ((conf as Record<string, unknown>)[attr] === undefined) return `property "${attr}" is required`;
    }
    if (conf.limit_strategy === 'expression') {
      if (conf.cost_expr === undefined || conf.cost_expr === '') return "cost_expr is required when limit_strategy is 'expression'";
    }
    if (conf.cost_expr !== undefined) {
      try {
        compileCostExpr(conf.cost_expr);
      } catch (err) {
        return `invalid cost_expr: ${(err as Error).message}`;
      }
    }
    return undefined;
  },

  compile(conf: AiRateLimitingConf, env: CompileEnv): CompiledRateLimit {
    return compileRateLimit(conf, env);
  },

  destroy(c: CompiledRateLimit): void {
    c.release?.();
    c.release = undefined;
  },

  rewrite(ctx, c) {
    // R-FB-2: consulted by ai-proxy-multi while choosing an instance. A
    // consumer's configuration runs its rewrite later and replaces the hook
    // (R-RL-4). Rules take no part in selection (R-RL-20).
    if (c.rules) {
      ctx.instanceHasQuota = async () => true;
      return;
    }
    ctx.quotaRejection = c.rejectionInfo;
    ctx.instanceHasQuota = async (name: string, instMax?: number) => {
      const r = await checkInstance(c, ctx, name, instMax);
      if (r.kind === 'allow') return true;
      if (r.kind === 'reject') return false;
      // a template that yields no number: exhausted (R-RL-15); a store
      // failure: let the access check answer per allow_degradation
      return r.storeFailure;
    };
  },

  access(ctx, c) {
    const name = ctx.llm.instanceName;
    if (!name) return; // R-RL-6, R-PIPE-11
    const r = c.rules ? checkRules(c, ctx) : checkInstance(c, ctx, name, ctx.llm.instanceMaxTokens);
    return r instanceof Promise ? r.then((x) => afterCheck(c, ctx, x)) : afterCheck(c, ctx, r);
  },

  log(ctx, c) {
    try {
      const p = settleRequest(c, ctx);
      return p === undefined ? undefined : p.catch((err) => chargeFailed(ctx, err));
    } catch (err) {
      chargeFailed(ctx, err);
    }
  },
};
