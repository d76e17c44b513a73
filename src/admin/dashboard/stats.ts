// GET /apisix/admin/dashboard/stats (R-UI-1): one JSON document with what the
// dashboard shows, assembled when it is asked for from state the gateway
// keeps anyway: the configuration snapshot (routes, instances), the health
// checkers' report (health, cool-downs), the Prometheus series (per-instance
// totals, when the prometheus plugin records them), the ring of the last
// requests, and the ai-rate-limiting counters (peeked, never charged).
import type { ConfigStore } from '../../store/types.js';
import type { Runtime } from '../../runtime/compile.js';
import type { CompiledPlugin } from '../../core/types.js';
import type { RecentRequests, RequestView } from '../../observability/recent-requests.js';
import type { Metrics } from '../../observability/metrics.js';
import type { CompiledRateLimit } from '../../plugins/ai-rate-limiting/index.js';
import { quotaRows, type QuotaRow } from '../../plugins/ai-rate-limiting/status.js';

export interface DashboardSources {
  /** the compiled configuration (quota counters live on its ai-rate-limiting objects) */
  runtime?: () => Runtime;
  health?: { report(): unknown[] };
  /**
   * the last requests: the gateway's ring, or anything answering the same
   * (a snapshot may be asynchronous, e.g. gathered from several processes)
   */
  recent?: Pick<RecentRequests, 'total'> & { snapshot(): RequestView[] | Promise<RequestView[]> };
  metrics?: () => Metrics | undefined;
}

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface InstanceStats {
  route_id: string;
  name: string;
  provider: string | null;
  model: string | null;
  priority: number | null;
  weight: number | null;
  /** the checker's status (`healthy`, `unhealthy`, `cooling_down`, …); null without a checker */
  health: string | null;
  cooldown_left_s: number | null;
  /** `prometheus`: totals since start from the prometheus plugin's series; `recent`: the last requests */
  source: 'prometheus' | 'recent';
  requests: number;
  /** by outcome: an HTTP status, or an R-RTY-4 outcome */
  failures: Record<string, number>;
  tokens: { prompt: number; completion: number; total: number };
  latency_ms: Percentiles;
  ttft_ms: Percentiles;
}

/** the q-quantile of a histogram of per-bucket counts (last slot +Inf), interpolated in its bucket */
export function histogramQuantile(bounds: readonly number[], counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && seen + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      const hi = bounds[i]!;
      return Math.round((lo + (hi - lo) * ((rank - seen) / c)) * 10) / 10;
    }
    seen += c;
  }
  return bounds[bounds.length - 1] ?? null;
}

/** nearest-rank quantile of raw values */
export function quantile(values: number[], q: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const pct = (f: (q: number) => number | null): Percentiles => ({ p50: f(0.5), p95: f(0.95), p99: f(0.99) });

interface ConfiguredInstance {
  routeId: string;
  routeName?: string;
  parentKeys: string[];
  name: string;
  provider: string | null;
  model: string | null;
  priority: number | null;
  weight: number | null;
  /** `host:port` of `override.endpoint`, to name upstream attempts that carry only an address */
  endpoint: string | null;
}

function endpointOf(inst: Obj): string | null {
  const e = isObj(inst.override) ? inst.override.endpoint : undefined;
  if (typeof e !== 'string') return null;
  try {
    const u = new URL(e);
    return `${u.hostname.replace(/^\[|\]$/g, '')}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    return null;
  }
}

/** the AI instances of every route, from the route's plugins or its service's */
function configuredInstances(snap: ReadonlyMap<string, { value: Obj }>): ConfiguredInstance[] {
  const out: ConfiguredInstance[] = [];
  for (const [key, it] of snap) {
    if (!key.startsWith('/apisix/routes/')) continue;
    const r = it.value;
    const routeId = String(r.id ?? key.slice('/apisix/routes/'.length));
    const svcKey = r.service_id !== undefined && r.service_id !== null ? `/apisix/services/${r.service_id}` : undefined;
    const svc = svcKey ? snap.get(svcKey)?.value : undefined;
    const pick = (name: string): { conf: Obj; parent: string } | undefined => {
      if (isObj(r.plugins) && isObj(r.plugins[name])) return { conf: r.plugins[name], parent: key };
      if (svc && isObj(svc.plugins) && isObj(svc.plugins[name])) return { conf: svc.plugins[name], parent: svcKey! };
      return undefined;
    };
    const base = { routeId, routeName: typeof r.name === 'string' ? r.name : undefined };
    const multi = pick('ai-proxy-multi');
    if (multi && Array.isArray(multi.conf.instances)) {
      for (const inst of multi.conf.instances) {
        if (!isObj(inst) || typeof inst.name !== 'string') continue;
        out.push({
          ...base,
          parentKeys: [multi.parent],
          name: inst.name,
          provider: typeof inst.provider === 'string' ? inst.provider : null,
          model: isObj(inst.options) && typeof inst.options.model === 'string' ? inst.options.model : null,
          priority: typeof inst.priority === 'number' ? inst.priority : null,
          weight: typeof inst.weight === 'number' ? inst.weight : null,
          endpoint: endpointOf(inst),
        });
      }
      continue;
    }
    const single = pick('ai-proxy');
    if (single && typeof single.conf.provider === 'string') {
      out.push({
        ...base,
        parentKeys: [single.parent],
        name: `ai-proxy-${single.conf.provider}`,
        provider: single.conf.provider,
        model: isObj(single.conf.options) && typeof single.conf.options.model === 'string' ? single.conf.options.model : null,
        priority: null,
        weight: null,
        endpoint: endpointOf(single.conf),
      });
    }
  }
  return out;
}

interface HealthNode {
  status: string | null;
  cooldown: number | null;
}

/** health report entries by `<parentKey>\0<instance>` (entry names are `<parentKey>#plugins[...]`) */
function healthIndex(report: unknown[]): Map<string, HealthNode> {
  const out = new Map<string, HealthNode>();
  for (const e of report) {
    if (!isObj(e) || typeof e.name !== 'string') continue;
    const hash = e.name.indexOf('#');
    const parent = hash >= 0 ? e.name.slice(0, hash) : e.name;
    const inst = typeof e.instance === 'string' ? e.instance : '';
    const nodes = Array.isArray(e.nodes) ? e.nodes.filter(isObj) : [];
    let status: string | null = null;
    let cooldown: number | null = null;
    for (const n of nodes) {
      if (typeof n.status === 'string' && (status === null || n.status !== 'healthy')) status = n.status;
      const left = n.cooldown_left_s;
      if (typeof left === 'number' && left > 0) cooldown = Math.max(cooldown ?? 0, left);
    }
    if (cooldown !== null && status === null) status = 'cooling_down';
    out.set(parent + '\0' + inst, { status, cooldown });
  }
  return out;
}

interface Agg {
  requests: number;
  failures: Record<string, number>;
  prompt: number;
  completion: number;
  latency?: Float64Array;
  ttft?: Float64Array;
}

/** per `<route label>\0<node>` totals from the prometheus plugin's series */
function seriesIndex(m: Metrics | undefined): { bounds: readonly number[]; ttftBounds: readonly number[]; byKey: Map<string, Agg> } | undefined {
  if (!m || m.requestSeries.size === 0) return undefined;
  const bounds = m.httpLatency.bounds;
  const ttftBounds = m.llmLatency.bounds;
  const byKey = new Map<string, Agg>();
  for (const s of m.requestSeries.values()) {
    const node = s.common.node;
    if (!node) continue;
    const key = s.common.route + '\0' + node;
    let a = byKey.get(key);
    if (!a) byKey.set(key, (a = { requests: 0, failures: {}, prompt: 0, completion: 0 }));
    for (const st of s.status.values()) {
      a.requests += st.value;
      const code = Number(st.labels.code);
      if (code >= 400) a.failures[String(code)] = (a.failures[String(code)] ?? 0) + st.value;
    }
    a.latency ??= new Float64Array(bounds.length + 1);
    for (let i = 0; i < s.latencyRequest.counts.length; i++) a.latency[i]! += s.latencyRequest.counts[i]!;
    if (s.llm) {
      a.prompt += s.llm.prompt.value;
      a.completion += s.llm.completion.value;
      a.ttft ??= new Float64Array(ttftBounds.length + 1);
      for (let i = 0; i < s.llm.latency.counts.length; i++) a.ttft[i]! += s.llm.latency.counts[i]!;
    }
  }
  return { bounds, ttftBounds, byKey };
}

/** R-RTY-4 attempt outcomes per `<route_id>\0<instance>` from `<prefix>llm_attempts_total`, when it exists */
async function attemptOutcomes(m: Metrics | undefined): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  const metric = m?.registry.getSingleMetric(`${m.prefix}llm_attempts_total`) as { get?: () => Promise<{ values?: Array<{ labels: Obj; value: number }> }> } | undefined;
  if (!metric?.get) return out;
  try {
    const data = await metric.get();
    for (const v of data.values ?? []) {
      const outcome = String(v.labels.outcome ?? '');
      if (!outcome || outcome === 'ok') continue;
      const key = String(v.labels.route_id ?? '') + '\0' + String(v.labels.instance ?? '');
      const f = out.get(key) ?? {};
      f[outcome] = (f[outcome] ?? 0) + v.value;
      out.set(key, f);
    }
  } catch {
    // a metric of another shape: no outcomes
  }
  return out;
}

interface RecentAgg { requests: number; failures: Record<string, number>; prompt: number; completion: number; latency: number[]; ttft: number[] }

/** outcomes of R-RTY-4 for an instance that was skipped, not sent anything */
const SKIPPED = new Set(['unhealthy', 'rate_limited', 'cooling_down']);

/**
 * Per `<route_id>\0<instance>` figures of the last requests: every attempt
 * sent to an instance counts as one of its requests (a failed one also under
 * its outcome); tokens, latency and TTFT belong to the instance that answered.
 */
function recentAgg(recent: RequestView[]): Map<string, RecentAgg> {
  const out = new Map<string, RecentAgg>();
  const get = (route: string | null, inst: string): RecentAgg => {
    const k = (route ?? '') + '\0' + inst;
    let g = out.get(k);
    if (!g) out.set(k, (g = { requests: 0, failures: {}, prompt: 0, completion: 0, latency: [], ttft: [] }));
    return g;
  };
  for (const r of recent) {
    const named = r.attempts.filter((a) => a.instance);
    if (named.length) {
      for (const a of named) {
        const g = get(r.route_id, a.instance!);
        if (!SKIPPED.has(a.outcome)) g.requests++;
        if (a.outcome !== 'ok') g.failures[a.outcome] = (g.failures[a.outcome] ?? 0) + 1;
      }
    } else if (r.instance) {
      const g = get(r.route_id, r.instance);
      g.requests++;
      if (r.status >= 400) g.failures[String(r.status)] = (g.failures[String(r.status)] ?? 0) + 1;
    }
    if (!r.instance) continue;
    const g = get(r.route_id, r.instance);
    g.prompt += r.prompt_tokens;
    g.completion += r.completion_tokens;
    g.latency.push(r.latency_ms);
    if (r.ttft_ms !== null) g.ttft.push(r.ttft_ms);
  }
  return out;
}

function compiledRateLimits(list: readonly CompiledPlugin[]): CompiledRateLimit[] {
  const out: CompiledRateLimit[] = [];
  for (const p of list) if (p.def.name === 'ai-rate-limiting') out.push(p.conf as CompiledRateLimit);
  return out;
}

export interface QuotaStats extends QuotaRow {
  /** `route` (the route's or its service's configuration) or `consumer` (the consumer's own) */
  scope: 'route' | 'consumer';
  route_id: string | null;
}

async function quotas(rt: Runtime | undefined, snap: ReadonlyMap<string, { value: Obj }>, instances: ConfiguredInstance[]): Promise<QuotaStats[]> {
  if (!rt) return [];
  const consumers: string[] = [];
  for (const key of snap.keys()) {
    if (!key.startsWith('/apisix/consumers/')) continue;
    const rest = key.slice('/apisix/consumers/'.length);
    if (!rest.includes('/')) consumers.push(rest);
  }
  const jobs: Promise<QuotaStats[]>[] = [];
  const seen = new Set<CompiledRateLimit>();
  for (const route of rt.routes) {
    const names = instances.filter((i) => i.routeId === route.id).map((i) => i.name);
    for (const c of compiledRateLimits(route.chain.all)) {
      if (seen.has(c)) continue;
      seen.add(c);
      jobs.push(quotaRows(c, names, consumers).then((rows) => rows.map((r) => ({ ...r, scope: 'route' as const, route_id: route.id }))));
    }
  }
  const allNames = [...new Set(instances.map((i) => i.name))];
  for (const u of consumers) {
    const info = rt.consumers.findByName(u);
    if (!info) continue;
    for (const c of compiledRateLimits(info.plugins)) {
      if (seen.has(c)) continue;
      seen.add(c);
      jobs.push(quotaRows(c, allNames, [u]).then((rows) => rows.map((r) => ({ ...r, consumer: u, scope: 'consumer' as const, route_id: null }))));
    }
  }
  return (await Promise.all(jobs)).flat();
}

export interface DashboardStats {
  generated_at: number;
  role: string;
  requests_seen: number;
  routes: Array<{ id: string; name: string | null; uris: string[]; status: number; service_id: string | null; plugins: string[] }>;
  instances: InstanceStats[];
  quotas: QuotaStats[];
  recent: RequestView[];
}

export async function collectStats(store: Pick<ConfigStore, 'snapshot'>, src: DashboardSources, role: string): Promise<DashboardStats> {
  const snap = store.snapshot() as ReadonlyMap<string, { value: Obj }>;
  const routes: DashboardStats['routes'] = [];
  for (const [key, it] of snap) {
    if (!key.startsWith('/apisix/routes/')) continue;
    const r = it.value;
    const uris = Array.isArray(r.uris) ? r.uris.map(String) : typeof r.uri === 'string' ? [r.uri] : [];
    const svc = r.service_id !== undefined && r.service_id !== null ? snap.get(`/apisix/services/${r.service_id}`)?.value : undefined;
    const plugins = new Set<string>([...Object.keys(isObj(r.plugins) ? r.plugins : {}), ...Object.keys(isObj(svc?.plugins) ? svc!.plugins : {})]);
    routes.push({
      id: String(r.id ?? key.slice('/apisix/routes/'.length)),
      name: typeof r.name === 'string' ? r.name : null,
      uris,
      status: r.status === 0 ? 0 : 1,
      service_id: r.service_id !== undefined && r.service_id !== null ? String(r.service_id) : null,
      plugins: [...plugins].sort(),
    });
  }
  routes.sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));

  const recent = (await src.recent?.snapshot()) ?? [];
  const configured = configuredInstances(snap);
  let report: unknown[] = [];
  try {
    report = src.health?.report() ?? [];
  } catch {
    report = [];
  }
  const health = healthIndex(report);
  const m = src.metrics?.();
  const series = seriesIndex(m);
  const outcomes = await attemptOutcomes(m);
  // name the attempts that carry only an address (plain upstream attempts of an AI request)
  const byAddr = new Map<string, string>();
  for (const ci of configured) if (ci.endpoint) byAddr.set(ci.routeId + '\0' + ci.endpoint, ci.name);
  for (const r of recent) {
    for (const a of r.attempts) {
      if (a.instance === undefined && a.addr) a.instance = byAddr.get((r.route_id ?? '') + '\0' + a.addr);
    }
  }
  const fromRecent = recentAgg(recent);

  const instances: InstanceStats[] = configured.map((ci) => {
    let h: HealthNode | undefined;
    for (const p of ci.parentKeys) h ??= health.get(p + '\0' + ci.name);
    const base = {
      route_id: ci.routeId,
      name: ci.name,
      provider: ci.provider,
      model: ci.model,
      priority: ci.priority,
      weight: ci.weight,
      health: h?.status ?? null,
      cooldown_left_s: h?.cooldown ?? null,
    };
    const s = series?.byKey.get(ci.routeId + '\0' + ci.name) ?? (ci.routeName ? series?.byKey.get(ci.routeName + '\0' + ci.name) : undefined);
    if (s && series) {
      const failures = { ...s.failures, ...(outcomes.get(ci.routeId + '\0' + ci.name) ?? {}) };
      return {
        ...base,
        source: 'prometheus' as const,
        requests: s.requests,
        failures,
        tokens: { prompt: s.prompt, completion: s.completion, total: s.prompt + s.completion },
        latency_ms: pct((q) => (s.latency ? histogramQuantile(series.bounds, s.latency, q) : null)),
        ttft_ms: pct((q) => (s.ttft ? histogramQuantile(series.ttftBounds, s.ttft, q) : null)),
      };
    }
    const g = fromRecent.get(ci.routeId + '\0' + ci.name);
    return {
      ...base,
      source: 'recent' as const,
      requests: g?.requests ?? 0,
      failures: g?.failures ?? {},
      tokens: { prompt: g?.prompt ?? 0, completion: g?.completion ?? 0, total: (g?.prompt ?? 0) + (g?.completion ?? 0) },
      latency_ms: pct((q) => quantile(g?.latency ?? [], q)),
      ttft_ms: pct((q) => quantile(g?.ttft ?? [], q)),
    };
  });

  let rt: Runtime | undefined;
  try {
    rt = src.runtime?.();
  } catch {
    rt = undefined;
  }
  return {
    generated_at: Date.now(),
    role,
    requests_seen: src.recent?.total ?? 0,
    routes,
    instances,
    quotas: await quotas(rt, snap, configured),
    recent,
  };
}
