// Wires the listeners, the store, the runtime and the shared services
// together, and stops them gracefully (R-GEN-18).
import type http from 'node:http';
import type { GatewayConfig, ListenAddr } from './config/types.js';
import type { ConfigStore } from './store/types.js';
import { createStore, secretCodecFor } from './store/index.js';
import { StandaloneFileStore } from './declarative/standalone-store.js';
import { ensureAdminKeys } from './config/admin-key.js';
import { ensureKeyring } from './config/keyring.js';
import { encryptFieldsOf } from './plugins/registry.js';
import { createMemoryState } from './state/memory.js';
import { GatewayTransport } from './transport/index.js';
import { RedisPool } from './state/redis.js';
import { GcpTokenCache } from './llm/providers/gcp-token.js';
import { createHealthService } from './llm/health/index.js';
import { RuntimeHolder } from './runtime/holder.js';
import { createProxyHandler } from './proxy/server.js';
import { listen, type Handler } from './proxy/http-listener.js';
import { ProxyContext } from './proxy/context.js';
import { createAdminHandler } from './admin/server.js';
import { createControlHandler } from './control/server.js';
import { createAccessLog } from './observability/access-log.js';
import { createMetricsHandler } from './observability/metrics-server.js';
import { RecentRequests } from './observability/recent-requests.js';
import { TrafficTally, formatTraffic, startTrafficTicker } from './observability/traffic-summary.js';
import { createMetrics } from './observability/metrics.js';
import { log } from './core/log.js';
import { GatewayScope } from './core/lifecycle.js';
import { IdleCompaction, idleCompactionEnabled, type ProxyActivity } from './core/idle-compaction.js';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly store: ConfigStore;
  /** addresses actually bound, by listener name (useful with port 0) */
  readonly addresses: Record<string, ListenAddr[]>;
  stop(graceMs?: number): Promise<void>;
}

export const GRACE_MS = 30_000;
/** after the grace period aborted requests still get this long to run their log phase */
const ABORT_SETTLE_MS = 1_000;

/** resolves when no proxy request is in flight, or after `ms` (with a warning) */
async function waitDrained(proxy: { drained(): Promise<void>; readonly inFlight: number }, ms: number): Promise<void> {
  if (proxy.inFlight === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  const late = await Promise.race([proxy.drained().then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) log.warn(`stopping with ${proxy.inFlight} request(s) not yet logged`);
}

/**
 * R-GEN-18: stop accepting connections, close idle ones, let in-flight
 * requests (streams included) finish within `graceMs`, abort what is left,
 * then wait for the log phases of the last requests.
 */
export async function drainServers(
  servers: http.Server[],
  proxy: { drained(): Promise<void>; readonly inFlight: number },
  graceMs = GRACE_MS,
): Promise<void> {
  const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
  for (const s of servers) s.closeIdleConnections();
  const idleSweep = setInterval(() => {
    for (const s of servers) s.closeIdleConnections();
  }, 100);
  const deadline = Date.now() + graceMs;
  const timer = setTimeout(() => {
    log.warn('grace period over: aborting requests still in flight');
    for (const s of servers) s.closeAllConnections();
  }, graceMs);
  await Promise.all(closed);
  clearTimeout(timer);
  clearInterval(idleSweep);
  // connections are gone, but the log phases (logger entries, access log
  // lines) of the last requests may still run: wait for them before the
  // runtime, the access log and the logger batches are closed (R-GEN-18,
  // R-LOG-4); aborted requests get a short settle window past the grace
  await waitDrained(proxy, Math.max(deadline - Date.now(), ABORT_SETTLE_MS));
}

export function boundAddr(server: http.Server): ListenAddr {
  const a = server.address();
  if (a && typeof a === 'object') return { ip: a.address, port: a.port };
  return { ip: '', port: 0 };
}

/** how `switchyard start` runs the gateway */
export interface StartOptions {
  /** print a traffic summary line a second at most on stdout (a terminal, issue #15) */
  trafficSummary?: boolean;
}

export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<Gateway> {
  ensureAdminKeys(config, (line) => process.stdout.write(line + '\n'));
  ensureKeyring(config, (line) => process.stdout.write(line + '\n'));
  const secrets = secretCodecFor(config, encryptFieldsOf);
  // R-SA-1: a data plane reads conf/apisix.yaml
  const store = config.deployment.config_provider === 'yaml'
    ? new StandaloneFileStore(config.deployment.standalone_file!)
    : createStore(config, { codec: secrets });
  await store.open();
  const state = createMemoryState();
  const health = createHealthService({ state, disabled: config.apisix.disable_upstream_healthcheck, log });
  const transport = new GatewayTransport();
  const gcpTokens = new GcpTokenCache(transport);
  const redis = new RedisPool();
  const prom = config.plugin_attr.prometheus;
  const metrics = createMetrics({ metric_prefix: prom.metric_prefix, default_buckets: prom.default_buckets, llm_latency_buckets: prom.llm_latency_buckets });
  const scope = new GatewayScope();
  const holder = new RuntimeHolder(store, { state, health, transport, gcpTokens, redis, metrics, scope, log });
  const accessLog = createAccessLog(config.nginx_config.http, log, { resolveVar: ProxyContext.getterFor, metrics });
  // the dashboard's last requests (R-UI-1): a preallocated ring the proxy writes one slot of per request
  const recent = new RecentRequests();
  const traffic = opts.trafficSummary ? new TrafficTally() : undefined;
  const proxy = createProxyHandler({ holder, accessLog, log, maxPostArgsBytes: (config.apisix.max_post_args_readable_size ?? 64) * 1024 * 1024, recent, traffic });

  const servers: Array<{ name: string; server: http.Server }> = [];
  const addresses: Record<string, ListenAddr[]> = {};
  const add = async (name: string, handler: Handler, addr: ListenAddr) => {
    // the proxy's response writer sets `Server` in its writeHead object, which
    // keeps Node's fast path (a header set with setHeader first sends every
    // later header through setHeader too)
    const server = await listen(handler, addr, { ownsHeaders: name === 'proxy' });
    servers.push({ name, server });
    (addresses[name] ??= []).push(boundAddr(server));
  };

  try {
    for (const addr of config.apisix.node_listen) await add('proxy', proxy.handler, addr);
    if (config.apisix.enable_admin) {
      await add('admin', createAdminHandler({ config, store, secrets, dashboard: { runtime: () => holder.current, health, recent, metrics: () => metrics } }), config.deployment.admin.admin_listen);
    }
    if (config.apisix.enable_control) await add('control', createControlHandler({ health, store }), config.apisix.control);
    if (prom.enable_export_server) await add('prometheus', createMetricsHandler(prom, metrics, { health }), prom.export_addr);
  } catch (err) {
    for (const s of servers) s.server.close();
    holder.close();
    health.close();
    gcpTokens.close();
    await redis.close();
    await transport.close();
    await store.close();
    throw err;
  }

  for (const s of servers) {
    for (const a of addresses[s.name] ?? []) log.info(`${s.name} listening on ${a.ip}:${a.port}`);
  }

  const ticker = traffic && startTrafficTicker(() => traffic.take(), (c) => process.stdout.write(formatTraffic(c) + '\n'));
  const compaction = startIdleCompaction((l) => holder.onSwap(l), proxy);

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = GRACE_MS): Promise<void> =>
    (stopping ??= (async () => {
      await drainServers(servers.map((s) => s.server), proxy, graceMs);
      ticker?.stop();
      compaction?.stop();
      holder.close();
      health.close();
      await accessLog.close();
      await scope.shutdown();
      await redis.close();
      gcpTokens.close();
      await transport.close();
      await state.close();
      await store.close();
    })());

  return { config, store, addresses, stop };
}

/**
 * The GCs when quiet (src/core/idle-compaction.ts) after the start and after
 * each configuration change (`onChange` subscribes to them), until
 * `activity.started` passes COLD_REQUESTS; undefined when
 * SWITCHYARD_IDLE_COMPACTION=0.
 */
export function startIdleCompaction(onChange: (listener: () => void) => unknown, activity: ProxyActivity): IdleCompaction | undefined {
  if (!idleCompactionEnabled()) return undefined;
  const compaction = new IdleCompaction(activity, undefined, undefined, (step, ms) => log.debug(`idle heap ${step === 0 ? 'compaction' : 'collection'} in ${ms.toFixed(1)} ms`));
  compaction.request();
  onChange(() => compaction.request());
  return compaction;
}
