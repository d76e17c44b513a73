// ai-rate-limiting (spec 06): token quotas for requests served by ai-proxy /
// ai-proxy-multi. Checked before sending (access phase, and during
// rate-limit-aware selection through ctx.instanceHasQuota, R-FB-2), charged
// after the response (log phase).
import type { PluginDef, RequestContext, Reply, CompileEnv } from '../../core/types.js';
import type { SharedState } from '../../state/types.js';
import type { Logger } from '../../core/log.js';
import { jsonError, pageError } from '../../core/errors.js';
import { compileTemplate, type CompiledTemplate } from '../../core/template.js';
import { acquireRedisState, type RedisSettings } from '../../state/redis.js';
import { resolveSecret } from '../../core/secrets.js';
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
  /** per-request facts (rules resolved in access, reused when charging) */
  readonly perRequest: WeakMap<RequestContext, { rules?: ResolvedRule[] }>;
  release?: () => void;
}

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

export function compileRateLimit(conf: AiRateLimitingConf, env: Pick<CompileEnv, 'parentKey' | 'confHash' | 'state' | 'log'>): CompiledRateLimit {
  let state = env.state;
  let release: (() => void) | undefined;
  if (conf.policy === 'redis' || conf.policy === 'redis-cluster') {
    const shared = acquireRedisState(redisSettings(conf), { log: env.log, label: 'ai-rate-limiting', keyPrefix: 'switchyard:ai-rate-limiting:' });
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
  return {
    conf,
    state,
    keyBase: `${env.parentKey}|${env.confHash}`,
    top,
    instances,
    rules,
    strategy,
    costExpr: strategy === 'expression' && conf.cost_expr ? compileCostExpr(conf.cost_expr) : undefined,
    showHeaders: conf.show_limit_quota_header ?? true,
    rejectedCode: conf.rejected_code ?? 503,
    rejectedMsg: conf.rejected_msg,
    allowDegradation: conf.allow_degradation ?? false,
    log: env.log,
    perRequest: new WeakMap(),
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

const FAILED_TO_LIMIT = (): Reply => jsonError(500, { error_msg: 'failed to limit count' });

function setHeaders(ctx: RequestContext, names: { limit: string; remaining: string; reset: string }, limit: number, remaining: number, reset: number): void {
  const h = ctx.extraResponseHeaders;
  h[names.limit] = String(limit);
  h[names.remaining] = String(Math.max(0, remaining));
  h[names.reset] = String(Math.max(0, reset));
}

/**
 * Dry-run check of instance `name` (R-RL-10): allowed when limit − used ≥ 1.
 * Sets that instance's quota headers (R-RL-13). Charges nothing.
 */
export async function checkInstance(c: CompiledRateLimit, ctx: RequestContext, name: string): Promise<CheckResult> {
  const q = quotaFor(c, name);
  if (!q) return { kind: 'allow', unlimited: true };
  const limit = resolveNum(q.limit, ctx);
  const window = resolveNum(q.window, ctx);
  if (limit === undefined || window === undefined || window <= 0) {
    ctx.log.error(`ai-rate-limiting: limit/time_window of instance "${name}" did not resolve to a number`);
    return { kind: 'error', reply: pageError(500), storeFailure: false };
  }
  let used: number;
  let resetIn: number | undefined;
  try {
    ({ used, resetIn } = await c.state.peek(instanceKey(c, name)));
  } catch {
    // logged once per burst by the state; R-RL-30
    if (c.allowDegradation) return { kind: 'allow' };
    return { kind: 'error', reply: FAILED_TO_LIMIT(), storeFailure: true };
  }
  const remaining = limit - used;
  const allowed = remaining >= 1;
  if (c.showHeaders && isHeaderToken(name)) {
    setHeaders(ctx, {
      limit: `X-AI-RateLimit-Limit-${name}`,
      remaining: `X-AI-RateLimit-Remaining-${name}`,
      reset: `X-AI-RateLimit-Reset-${name}`,
    }, limit, allowed ? remaining : 0, resetIn ?? Math.ceil(window));
  }
  return allowed ? { kind: 'allow' } : { kind: 'reject' };
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
  c.perRequest.set(ctx, { rules });
  if (rules.length === 0) {
    ctx.log.error('ai-rate-limiting: no rule applies to the request (keys or numbers did not resolve)');
    return { kind: 'error', reply: pageError(500), storeFailure: false };
  }
  for (const r of rules) {
    let used: number;
    let resetIn: number | undefined;
    try {
      ({ used, resetIn } = await c.state.peek(ruleKey(c, r)));
    } catch {
      if (c.allowDegradation) return { kind: 'allow' };
      return { kind: 'error', reply: FAILED_TO_LIMIT(), storeFailure: true };
    }
    const remaining = r.count - used;
    const allowed = remaining >= 1;
    const p = r.rule.prefix;
    if (c.showHeaders && isHeaderToken(p)) {
      setHeaders(ctx, {
        limit: `X-AI-${p}-RateLimit-Limit`,
        remaining: `X-AI-${p}-RateLimit-Remaining`,
        reset: `X-AI-${p}-RateLimit-Reset`,
      }, r.count, allowed ? remaining : 0, resetIn ?? Math.ceil(r.window));
    }
    if (!allowed) return { kind: 'reject' };
  }
  return { kind: 'allow' };
}

function rejection(c: CompiledRateLimit): Reply {
  return c.rejectedMsg !== undefined ? jsonError(c.rejectedCode, { error_msg: c.rejectedMsg }) : pageError(c.rejectedCode);
}

/** R-RL-7 / R-RL-9: the cost of the request, or undefined when there is no usage (R-RL-8) */
export function costOf(c: Pick<CompiledRateLimit, 'strategy' | 'costExpr'>, llm: RequestContext['llm']): { cost?: number; error?: string } {
  const hasUsage = llm.rawUsage !== undefined || llm.totalTokens > 0 || llm.promptTokens > 0 || llm.completionTokens > 0;
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

async function charge(c: CompiledRateLimit, ctx: RequestContext): Promise<void> {
  const name = ctx.llm.instanceName;
  if (!name || ctx.llm.rateLimitRejected) return;
  let targets: { key: string; window: number }[];
  if (c.rules) {
    const rules = c.perRequest.get(ctx)?.rules ?? resolveRules(c, ctx);
    targets = rules.map((r) => ({ key: ruleKey(c, r), window: r.window }));
  } else {
    const q = quotaFor(c, name);
    if (!q) return;
    const window = resolveNum(q.window, ctx);
    if (window === undefined || window <= 0) return;
    targets = [{ key: instanceKey(c, name), window }];
  }
  if (targets.length === 0) return;
  const { cost, error } = costOf(c, ctx.llm);
  if (error !== undefined) {
    ctx.log.error(error);
    return;
  }
  if (!cost || cost <= 0) return;
  await Promise.all(targets.map(async (t) => {
    try {
      await c.state.charge(t.key, cost, Math.ceil(t.window));
    } catch {
      // logged once per burst by the state
    }
  }));
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
    ctx.instanceHasQuota = async (name: string) => {
      const r = await checkInstance(c, ctx, name);
      if (r.kind === 'allow') return true;
      if (r.kind === 'reject') return false;
      // a template that yields no number: exhausted (R-RL-15); a store
      // failure: let the access check answer per allow_degradation
      return r.storeFailure;
    };
  },

  async access(ctx, c) {
    const name = ctx.llm.instanceName;
    if (!name) return; // R-RL-6, R-PIPE-11
    const r = c.rules ? await checkRules(c, ctx) : await checkInstance(c, ctx, name);
    if (r.kind === 'allow') return;
    ctx.llm.rateLimitRejected = true;
    return r.kind === 'error' ? r.reply : rejection(c);
  },

  async log(ctx, c) {
    try {
      await charge(c, ctx);
    } catch (err) {
      ctx.log.error(`ai-rate-limiting: failed to charge: ${(err as Error).message}`);
    }
  },
};
