// The Prometheus registry of one running gateway, shared by the `prometheus`
// plugin (per-request recording), the AI proxy plugins (active LLM
// connections, R-PROM-5), the access log (requests received) and the export
// listener (R-PROM-1..6). The gateway makes one (createMetrics) and hands it
// down: to the plugins through CompileEnv.metrics.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LogDrops } from './batch.js';
import { SeriesCounter, SeriesHistogram, type CounterChild, type HistogramChild } from './series.js';
import type { Server, Socket } from 'node:net';
import type { RequestContext, RequestMetrics } from '../core/types.js';
import type { HealthService } from '../core/health-types.js';
import { VERSION } from '../core/version.js';
import { llmCost } from '../core/llm-cost.js';

export interface MetricsConfig {
  metric_prefix?: string;
  default_buckets?: number[];
  llm_latency_buckets?: number[];
}

/** R-PROM-3 */
export const DEFAULT_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000];

const HTTP_STATUS_LABELS = ['code', 'route', 'matched_uri', 'matched_host', 'service', 'consumer', 'node', 'request_type', 'request_llm_model', 'llm_model', 'response_source'] as const;
const HTTP_LATENCY_LABELS = ['type', 'route', 'service', 'consumer', 'node', 'request_type', 'request_llm_model', 'llm_model'] as const;
const LLM_LABELS = ['route_id', 'service_id', 'consumer', 'node', 'request_type', 'request_llm_model', 'llm_model'] as const;
const ACTIVE_LABELS = ['route', 'route_id', 'matched_uri', 'matched_host', 'service', 'service_id', 'consumer', 'node', 'request_type', 'request_llm_model', 'llm_model'] as const;

type Labels<T extends readonly string[]> = Record<T[number], string>;

export class Metrics implements RequestMetrics {
  readonly registry = new Registry();
  readonly prefix: string;
  readonly httpStatus: SeriesCounter;
  readonly httpLatency: SeriesHistogram;
  readonly bandwidth: SeriesCounter;
  readonly llmLatency: SeriesHistogram;
  readonly llmPromptTokens: SeriesCounter;
  readonly llmCompletionTokens: SeriesCounter;
  /** R-USG-4: cost of the requests whose instance has `pricing` */
  readonly llmCost: SeriesCounter;
  /** R-RTY-4 */
  readonly llmAttempts: SeriesCounter;
  /** the children one request updates, per label set (see recordRequest) */
  readonly requestSeries = new Map<string, RequestSeries>();
  /**
   * The label set each `node` last recorded, and its children: with several
   * instances taking turns, one "last" entry would miss on every request and
   * build the whole key again (see recordRequest, trackLlmAttempt)
   */
  readonly lastRequestByNode = new Map<string, LastRequestSeries>();
  readonly llmActive: Gauge<(typeof ACTIVE_LABELS)[number]>;
  /**
   * In-flight LLM attempts per label set (R-PROM-5), copied into `llmActive`
   * when it is collected. Counting here instead of gauge.inc/dec saves
   * prom-client's label validation and hashing twice per attempt: the
   * decrement reuses the entry found by the increment.
   */
  readonly activeSeries = new Map<string, ActiveAttempts>();
  /** per `node`, the entry of its previous attempt (see trackLlmAttempt) */
  readonly lastActiveByNode = new Map<string, ActiveAttempts>();
  /** log entries the loggers of this gateway dropped */
  readonly logDrops = new LogDrops();
  /** where `apisix_upstream_status` reads health-check targets from (R-PROM-3) */
  healthSource: Pick<HealthService, 'report'> | undefined = undefined;
  /** proxy requests since start (`http_requests_total`) */
  requestsTotal = 0;
  // connection tracking for apisix_nginx_http_current_connections (SHOULD):
  // sockets are counted the first time a proxy request on them completes
  readonly conn = { accepted: 0, active: 0 };
  readonly seenSockets = new WeakSet<Socket>();
  readonly proxyServers = new Set<Server>();

  constructor(readonly conf: Required<Pick<MetricsConfig, 'metric_prefix'>> & MetricsConfig) {
    const p = (this.prefix = conf.metric_prefix);
    const registers = [this.registry];
    const buckets = conf.default_buckets?.length ? conf.default_buckets : DEFAULT_BUCKETS;
    const llmBuckets = conf.llm_latency_buckets?.length ? conf.llm_latency_buckets : DEFAULT_BUCKETS;
    const reg = this.registry;
    this.httpStatus = new SeriesCounter(`${p}http_status`, 'HTTP status codes per service in APISIX', reg);
    this.httpLatency = new SeriesHistogram(`${p}http_latency`, 'HTTP request latency in milliseconds per service in APISIX', reg, buckets);
    this.bandwidth = new SeriesCounter(`${p}bandwidth`, 'Total bandwidth in bytes consumed per service in APISIX', reg);
    this.llmLatency = new SeriesHistogram(`${p}llm_latency`, 'LLM request latency in milliseconds', reg, llmBuckets);
    this.llmPromptTokens = new SeriesCounter(`${p}llm_prompt_tokens`, 'LLM service consumed prompt tokens', reg);
    this.llmCompletionTokens = new SeriesCounter(`${p}llm_completion_tokens`, 'LLM service consumed completion tokens', reg);
    this.llmCost = new SeriesCounter(`${p}llm_cost_total`, 'LLM service cost from the usage and the instance pricing', reg);
    this.llmAttempts = new SeriesCounter(`${p}llm_attempts_total`, 'LLM upstream attempts (and skipped instances) by outcome', reg);
    const activeSeries = this.activeSeries;
    const self = this;
    this.llmActive = new Gauge({
      name: `${p}llm_active_connections`,
      help: 'Number of active connections to LLM service',
      labelNames: ACTIVE_LABELS,
      registers,
      collect() {
        for (const e of activeSeries.values()) this.set(e.labels, e.n);
      },
    });
    new Gauge({
      name: `${p}http_requests_total`,
      help: 'The total number of client requests since APISIX started',
      registers,
      collect() {
        this.set(self.requestsTotal);
      },
    });
    new Gauge({
      name: `${p}nginx_http_current_connections`,
      help: 'Number of HTTP connections',
      labelNames: ['state'],
      registers,
      async collect() {
        // the proxy servers seen so far: their live connection count
        let active = 0;
        for (const srv of self.proxyServers) {
          active += await new Promise<number>((resolve) => srv.getConnections((err, n) => resolve(err ? 0 : n)));
        }
        const conn = self.conn;
        if (!self.proxyServers.size) active = conn.active;
        this.set({ state: 'accepted' }, conn.accepted);
        this.set({ state: 'handled' }, conn.accepted);
        this.set({ state: 'active' }, active);
        this.set({ state: 'reading' }, 0);
        this.set({ state: 'writing' }, 0);
        this.set({ state: 'waiting' }, active);
      },
    });
    new Counter({
      name: `${p}log_entries_dropped_total`,
      help: 'Log entries of http-logger and kafka-logger dropped: buffer full (collector too slow or down), retries exhausted, or sent after close',
      labelNames: ['logger', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const e of self.logDrops.counts.values()) this.inc({ logger: e.logger, reason: e.reason }, e.n);
      },
    });
    const nodeInfo = new Gauge({
      name: `${p}node_info`,
      help: 'Info of APISIX node',
      labelNames: ['hostname', 'version'],
      registers,
    });
    nodeInfo.set({ hostname: os.hostname(), version: VERSION }, 1);
    // prom-client's process and Node.js metrics (CPU, memory, handles, event
    // loop lag, GC), sampled when scraped; with workers their own aggregators
    // sum them across processes (R-WRK-2)
    collectDefaultMetrics({ register: this.registry, prefix: p });
    new Gauge({
      name: `${p}upstream_status`,
      help: 'Upstream status from health check',
      labelNames: ['name', 'ip', 'port'],
      registers,
      collect() {
        this.reset();
        const healthSource = self.healthSource;
        if (!healthSource) return;
        let report: unknown[] = [];
        try {
          report = healthSource.report();
        } catch {
          return;
        }
        for (const entry of report) {
          const e = entry as { name?: unknown; nodes?: unknown };
          if (!Array.isArray(e.nodes)) continue;
          for (const n of e.nodes as Array<Record<string, unknown>>) {
            const status = String(n.status ?? '');
            const up = status === 'healthy' || status === 'mostly_healthy' ? 1 : 0;
            this.set({ name: String(e.name ?? ''), ip: String(n.ip ?? ''), port: String(n.port ?? '') }, up);
          }
        }
      },
    });
  }

  /** R-PROM-2/3/4: record one finished request (the `prometheus` plugin's log phase) */
  recordRequest(ctx: RequestContext, opts?: { preferName?: boolean }): void {
    recordRequest(this, ctx, opts);
  }

  /** R-PROM-5: an attempt to an LLM instance starts; see trackLlmAttempt */
  trackLlmAttempt(ctx: RequestContext, node: string): ActiveAttempts {
    return trackLlmAttempt(this, ctx, node);
  }

  /** called by the access log once per proxy request: `http_requests_total`, connections */
  noteProxyRequest(ctx: RequestContext): void {
    noteProxyRequest(this, ctx);
  }
}

/** the registry of one gateway, with the prefix and buckets of plugin_attr.prometheus */
export function createMetrics(conf: MetricsConfig = {}): Metrics {
  return new Metrics({ ...conf, metric_prefix: conf.metric_prefix ?? 'apisix_' });
}

// ---------------------------------------------------------------------------
// label helpers

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

function isAi(ctx: RequestContext): boolean {
  return ctx.llm.requestType === 'ai_chat' || ctx.llm.requestType === 'ai_stream';
}

/** `node`: the picked instance for AI requests (R-BAL-10), else `$balancer_ip` */
function nodeOf(ctx: RequestContext): string {
  if (isAi(ctx)) return str(ctx.llm.instanceName);
  return str(safeVar(ctx, 'balancer_ip'));
}

function safeVar(ctx: RequestContext, name: string): string | number | undefined {
  try {
    return ctx.getVar(name);
  } catch {
    return undefined;
  }
}

function routeLabel(ctx: RequestContext, preferName: boolean): string {
  return str(preferName ? ctx.routeName || ctx.routeId : ctx.routeId);
}

function serviceLabel(ctx: RequestContext, preferName: boolean): string {
  return str(preferName ? ctx.serviceName || ctx.serviceId : ctx.serviceId);
}

/**
 * R-PROM-3 `response_source`: `upstream` (relayed from an upstream or LLM),
 * `apisix` (produced by the gateway), `nginx` (the gateway's page for a
 * transport failure while proxying). The proxy server sets
 * `ctx.responseSource` for gateway replies and AI-plugin responses; plain
 * proxying leaves it unset and it is derived from the attempts: a transport
 * failure is recorded with the status the client gets (R-VAR-4) and answered
 * with the default error page (text/html).
 */
export function responseSource(ctx: RequestContext): string {
  const explicit = ctx.responseSource;
  if (explicit) return explicit;
  const attempts = ctx.upstreamAttempts;
  const last = attempts.length ? attempts[attempts.length - 1] : undefined;
  if (!last) return 'apisix';
  const status = ctx.status;
  if (last.status !== status) return 'apisix';
  if (status >= 500 && (!last.addr || last.addr === '-')) return 'nginx';
  if ((status === 502 || status === 504) && /^text\/html/.test(String(ctx.responseHeaders()['content-type'] ?? ''))) return 'nginx';
  return 'upstream';
}

function num(v: string | number | undefined): number {
  if (v === undefined || v === '') return 0;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** upstream time in ms: the sum of the attempts' durations (undefined when none) */
export function upstreamLatencyMs(ctx: RequestContext): number | undefined {
  if (!ctx.upstreamAttempts.length) return undefined;
  let s = 0;
  for (const a of ctx.upstreamAttempts) s += a.time;
  return Math.round(s * 1000);
}

/**
 * The children one request updates for one set of the labels every series
 * shares (route, service, consumer, node, request type, models): found with
 * one Map lookup per request instead of nine label hashes in prom-client.
 */
type CommonLabels = Omit<Labels<typeof HTTP_LATENCY_LABELS>, 'type'>;

export interface RequestSeries {
  readonly common: CommonLabels;
  readonly latencyRequest: HistogramChild;
  readonly latencyApisix: HistogramChild;
  latencyUpstream?: HistogramChild;
  readonly ingress: CounterChild;
  readonly egress: CounterChild;
  llm?: { latency: HistogramChild; prompt: CounterChild; completion: CounterChild };
  /** http_status children by code, response_source, matched_uri, matched_host */
  readonly status: Map<string, CounterChild>;
  /** the key of `common` in Metrics.requestSeries */
  readonly key: string;
  /** the status child of the previous request of this series (most requests repeat it) */
  lastStatus?: { code: number; source: string; uri: string; host: string; child: CounterChild };
  /** the R-RTY-4 child of the previous attempt of this series */
  lastAttempt?: { instance: string; outcome: string; child: CounterChild };
}

/** nodes are instance names and upstream addresses: a bound keeps a config that churns them from growing the cache */
const LAST_BY_NODE_MAX = 1024;

function rememberFor<V>(cache: Map<string, V>, node: string, v: V): void {
  if (cache.size >= LAST_BY_NODE_MAX && !cache.has(node)) cache.clear();
  cache.set(node, v);
}

/**
 * The series of a node's previous request, with the label values it was
 * found by. Consecutive requests to one instance nearly always carry the
 * same labels (one route, one consumer), so comparing seven strings
 * replaces building a seven-part key and hashing it, per request.
 */
interface LastRequestSeries {
  route: string; service: string; consumer: string; node: string;
  request_type: string; request_llm_model: string; llm_model: string;
  series: RequestSeries;
}

function requestSeries(m: Metrics, key: string, common: CommonLabels): RequestSeries {
  let s = m.requestSeries.get(key);
  if (s !== undefined) return s;
  const typed = (type: string) => () => ({ type, route: common.route, service: common.service, consumer: common.consumer, node: common.node, request_type: common.request_type, request_llm_model: common.request_llm_model, llm_model: common.llm_model });
  s = {
    common,
    latencyRequest: m.httpLatency.child('request\0' + key, typed('request')),
    latencyApisix: m.httpLatency.child('apisix\0' + key, typed('apisix')),
    ingress: m.bandwidth.child('ingress\0' + key, typed('ingress')),
    egress: m.bandwidth.child('egress\0' + key, typed('egress')),
    status: new Map(),
    key,
  };
  m.requestSeries.set(key, s);
  return s;
}

function llmSeries(m: Metrics, key: string, s: RequestSeries): NonNullable<RequestSeries['llm']> {
  const c = s.common;
  const labels = () => ({ route_id: c.route, service_id: c.service, consumer: c.consumer, node: c.node, request_type: c.request_type, request_llm_model: c.request_llm_model, llm_model: c.llm_model });
  return (s.llm = {
    latency: m.llmLatency.child(key, labels),
    prompt: m.llmPromptTokens.child(key, labels),
    completion: m.llmCompletionTokens.child(key, labels),
  });
}

/** R-PROM-5: the attempts in flight for one label set; the attempt decrements `n` once when it ends */
export interface ActiveAttempts {
  readonly labels: Labels<typeof ACTIVE_LABELS>;
  n: number;
}

function recordRequest(m: Metrics, ctx: RequestContext, opts: { preferName?: boolean } | undefined): void {
  const preferName = opts?.preferName === true;
  const route = routeLabel(ctx, preferName);
  const service = serviceLabel(ctx, preferName);
  const consumer = str(ctx.consumer?.username);
  const node = nodeOf(ctx);
  const llm = ctx.llm;
  const request_type = llm.requestType;
  const request_llm_model = str(llm.requestModel);
  const llm_model = str(llm.model);
  const last = m.lastRequestByNode.get(node);
  let s: RequestSeries;
  if (
    last !== undefined && last.route === route && last.service === service && last.consumer === consumer && last.node === node &&
    last.request_type === request_type && last.request_llm_model === request_llm_model && last.llm_model === llm_model
  ) {
    s = last.series;
  } else {
    const key = route + '\0' + service + '\0' + consumer + '\0' + node + '\0' + request_type + '\0' + request_llm_model + '\0' + llm_model;
    s = m.requestSeries.get(key) ?? requestSeries(m, key, { route, service, consumer, node, request_type, request_llm_model, llm_model });
    rememberFor(m.lastRequestByNode, node, { route, service, consumer, node, request_type, request_llm_model, llm_model, series: s });
  }
  const key = s.key;

  const status = ctx.status;
  const matched_uri = str(safeVar(ctx, 'matched_uri'));
  const matched_host = str(safeVar(ctx, 'matched_host'));
  const response_source = responseSource(ctx);
  const ls = s.lastStatus;
  if (ls !== undefined && ls.code === status && ls.source === response_source && ls.uri === matched_uri && ls.host === matched_host) {
    ls.child.value++;
  } else {
    const code = String(status);
    const statusKey = code + '\0' + response_source + '\0' + matched_uri + '\0' + matched_host;
    let st = s.status.get(statusKey);
    if (st === undefined) {
      st = m.httpStatus.child(statusKey + '\0' + key, () => ({ code, route, matched_uri, matched_host, service, consumer, node, request_type, request_llm_model, llm_model, response_source }));
      s.status.set(statusKey, st);
    }
    s.lastStatus = { code: status, source: response_source, uri: matched_uri, host: matched_host, child: st };
    st.value++;
  }

  const latency = Math.max(0, performance.now() - ctx.startTime);
  const upstream = upstreamLatencyMs(ctx);
  s.latencyRequest.observe(latency);
  if (upstream !== undefined) {
    const c = s.common;
    (s.latencyUpstream ??= m.httpLatency.child('upstream\0' + key, () => ({ type: 'upstream', route: c.route, service: c.service, consumer: c.consumer, node: c.node, request_type: c.request_type, request_llm_model: c.request_llm_model, llm_model: c.llm_model }))).observe(upstream);
  }
  s.latencyApisix.observe(Math.max(0, latency - (upstream ?? 0)));

  s.ingress.value += num(safeVar(ctx, 'request_length'));
  s.egress.value += num(safeVar(ctx, 'bytes_sent'));

  if (isAi(ctx)) {
    const l = s.llm ?? llmSeries(m, key, s);
    const ttft = llm.timeToFirstTokenMs;
    if (ttft > 0) l.latency.observe(ttft);
    l.prompt.value += Math.max(0, llm.promptTokens || 0);
    l.completion.value += Math.max(0, llm.completionTokens || 0);
    // R-USG-4: only instances with pricing pay for this
    if (llm.pricing !== undefined) {
      const cost = llmCost(llm);
      if (cost !== undefined && cost > 0) {
        const instance = str(llm.instanceName);
        const currency = llm.pricing.currency;
        m.llmCost.child(route + '\0' + instance + '\0' + consumer + '\0' + currency, () => ({ route_id: route, instance, consumer, currency })).value += cost;
      }
    }
    const at = llm.attempts;
    if (at !== undefined) {
      // R-RTY-4
      for (let i = 0; i < at.length; i++) {
        const a = at[i]!;
        const instance = a.instance;
        const outcome = a.outcome;
        const la = s.lastAttempt;
        if (la !== undefined && la.instance === instance && la.outcome === outcome) {
          la.child.value++;
          continue;
        }
        const child = m.llmAttempts.child(route + '\0' + instance + '\0' + outcome, () => ({ route_id: route, instance, outcome }));
        s.lastAttempt = { instance, outcome, child };
        child.value++;
      }
    }
  }
}

/**
 * R-PROM-5: call when an attempt to an LLM instance starts (after
 * `ctx.llm.model` was set for it), with the instance's name as `node`.
 * When that attempt ends (response complete, failure, client abort),
 * decrement the returned entry's `n`, once: the decrement uses the labels
 * of the increment.
 */
function trackLlmAttempt(m: Metrics, ctx: RequestContext, node: string): ActiveAttempts {
  const route = str(ctx.routeName);
  const route_id = str(ctx.routeId);
  const matched_uri = str(safeVar(ctx, 'matched_uri'));
  const matched_host = str(safeVar(ctx, 'matched_host'));
  const service = str(ctx.serviceName);
  const service_id = str(ctx.serviceId);
  const consumer = str(ctx.consumer?.username);
  const request_type = ctx.llm.requestType === 'traditional_http' ? 'ai_chat' : ctx.llm.requestType;
  const request_llm_model = str(ctx.llm.requestModel);
  const llm_model = str(ctx.llm.model);
  const cached = m.lastActiveByNode.get(node);
  const l = cached?.labels;
  let entry: ActiveAttempts;
  if (
    l !== undefined && l.route === route && l.route_id === route_id && l.matched_uri === matched_uri && l.matched_host === matched_host &&
    l.service === service && l.service_id === service_id && l.consumer === consumer && l.node === node &&
    l.request_type === request_type && l.request_llm_model === request_llm_model && l.llm_model === llm_model
  ) {
    entry = cached!;
  } else {
    const key = route + '\0' + route_id + '\0' + matched_uri + '\0' + matched_host + '\0' + service + '\0' + service_id + '\0' +
      consumer + '\0' + node + '\0' + request_type + '\0' + request_llm_model + '\0' + llm_model;
    let e = m.activeSeries.get(key);
    if (e === undefined) {
      e = { labels: { route, route_id, matched_uri, matched_host, service, service_id, consumer, node, request_type, request_llm_model, llm_model }, n: 0 };
      m.activeSeries.set(key, e);
    }
    entry = e;
    rememberFor(m.lastActiveByNode, node, e);
  }
  entry.n++;
  return entry;
}

function noteProxyRequest(m: Metrics, ctx: RequestContext): void {
  m.requestsTotal++;
  const { proxyServers, seenSockets, conn } = m;
  const sock = ctx.req?.socket as Socket | undefined;
  const srv = (sock as unknown as { server?: Server } | undefined)?.server;
  if (srv && typeof srv.getConnections === 'function' && !proxyServers.has(srv)) {
    proxyServers.add(srv);
    // from now on every accepted connection counts, not only those that completed a request
    srv.on('connection', (s: Socket) => {
      if (seenSockets.has(s)) return;
      seenSockets.add(s);
      conn.accepted++;
      conn.active++;
      s.once('close', () => conn.active--);
    });
    srv.once('close', () => proxyServers.delete(srv));
  }
  if (sock && !seenSockets.has(sock)) {
    seenSockets.add(sock);
    conn.accepted++;
    if (!sock.destroyed) {
      conn.active++;
      sock.once('close', () => conn.active--);
    }
  }
}
