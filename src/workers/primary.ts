// The gateway with `nginx_config.worker_processes` > 1 (R-WRK-1..2): this
// process (the cluster primary) owns everything there is one of per node —
// the admin key, the configuration store, the Admin API, the Control API,
// the metrics listener, the health checkers, the `policy: local` counters,
// the log files — and N cluster workers serve the proxy listeners, which
// node:cluster shares between them. See docs/design.md "Workers".
import type http from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import type { GatewayConfig, ListenAddr } from '../config/types.js';
import type { Gateway, StartOptions } from '../app.js';
import { TrafficTally, formatTraffic, startTrafficTicker } from '../observability/traffic-summary.js';
import { boundAddr, drainServers, GRACE_MS, startIdleCompaction } from '../app.js';
import { createStore, secretCodecFor } from '../store/index.js';
import { StandaloneFileStore } from '../declarative/standalone-store.js';
import { ensureAdminKeys } from '../config/admin-key.js';
import { ensureKeyring } from '../config/keyring.js';
import { encryptFieldsOf } from '../plugins/registry.js';
import { createMemoryState } from '../state/memory.js';
import type { SharedState } from '../state/types.js';
import { createHealthService } from '../llm/health/index.js';
import { listen, type Handler } from '../proxy/http-listener.js';
import { createAdminHandler } from '../admin/server.js';
import { createControlHandler } from '../control/server.js';
import { createMetricsHandler } from '../observability/metrics-server.js';
import { createLineSink, type LineSink } from '../observability/line-sink.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { log } from '../core/log.js';
import { FeedStore } from './feed-store.js';
import { HealthHub } from './health-hub.js';
import { WorkerPool, type PoolMember } from './pool.js';
import { stateMethods } from './remote-state.js';
import type { RpcCall, RpcResult, ToPrimary } from './messages.js';

/** how long a scrape waits for a worker's metrics */
const METRICS_TIMEOUT_MS = 3_000;

/** the log files of every worker, one sink (one handle) per target */
class LineHub {
  private readonly sinks = new Map<string, LineSink>();
  write(target: string, label: string, data: string): void {
    let s = this.sinks.get(target);
    if (!s) {
      s = createLineSink(target, log, { label });
      this.sinks.set(target, s);
    }
    s.push(data);
  }
  async close(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.close()));
    this.sinks.clear();
  }
}

/** the primary's state, with a hook on the health checkers' status writes */
function watchHealthWrites(state: SharedState, onHealthWrite: () => void): SharedState {
  return {
    ...state,
    async setValue(key: string, value: string, ttlSec?: number) {
      await state.setValue(key, value, ttlSec);
      if (key.startsWith('healthcheck|')) onHealthWrite();
    },
  };
}

export async function startPrimary(config: GatewayConfig, opts: StartOptions = {}): Promise<Gateway> {
  const size = config.nginx_config.worker_processes ?? 1;
  ensureAdminKeys(config, (line) => process.stdout.write(line + '\n'));
  ensureKeyring(config, (line) => process.stdout.write(line + '\n'));
  const secrets = secretCodecFor(config, encryptFieldsOf);
  // R-SA-1: a data plane reads conf/apisix.yaml
  const inner = config.deployment.config_provider === 'yaml'
    ? new StandaloneFileStore(config.deployment.standalone_file!)
    : createStore(config, { codec: secrets });
  await inner.open();
  const state = createMemoryState();
  const methods = stateMethods(state);
  const allowed = new Set(methods);
  let hub: HealthHub | undefined;
  const health = createHealthService({
    state: watchHealthWrites(state, () => hub?.changed()),
    disabled: config.apisix.disable_upstream_healthcheck,
    log,
  });
  const lines = new LineHub();
  // what the idle GCs wait on here: the workers' messages (state calls per
  // request, log lines, metrics) and requests to the primary's own listeners
  const activity = { started: 0, inFlight: 0 };
  const metricsWaiters = new Map<number, { resolve(m: unknown[] | undefined): void }>();
  let nextMetricsId = 1;

  const onRpc = (m: PoolMember, calls: RpcCall[]) => {
    const target = state as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const results: RpcResult[] = new Array(calls.length);
    let left = calls.length;
    const done = (i: number, r: RpcResult) => {
      results[i] = r;
      if (--left === 0) pool.send(m.id, { sy: 'rpc.res', results });
    };
    calls.forEach((c, i) => {
      if (!allowed.has(c.m)) return done(i, { id: c.id, e: `unknown state method ${c.m}` });
      let p: Promise<unknown>;
      try {
        p = Promise.resolve(target[c.m]!(...c.a));
      } catch (err) {
        return done(i, { id: c.id, e: (err as Error).message });
      }
      p.then(
        (v) => done(i, { id: c.id, v }),
        (err: Error) => done(i, { id: c.id, e: err?.message ?? String(err) }),
      );
    });
  };

  // the terminal summary (issue #15): the workers count, this process adds up and prints
  const traffic = opts.trafficSummary ? new TrafficTally() : undefined;
  let feed!: FeedStore;
  const pool: WorkerPool = new WorkerPool({
    size,
    log,
    init: (worker) => ({
      sy: 'init',
      worker,
      config,
      seq: feed.seq,
      items: [...inner.snapshot().values()],
      stateMethods: methods,
      trafficSummary: traffic !== undefined,
    }),
    onMessage(m, msg: ToPrimary) {
      activity.started++;
      switch (msg.sy) {
        case 'rpc':
          onRpc(m, msg.calls);
          return;
        case 'health.reg':
          hub!.register(m.id, msg.id, msg.parentKey, msg.confHash, msg.targets);
          return;
        case 'health.unreg':
          hub!.unregister(m.id, msg.id);
          return;
        case 'health.obs':
          hub!.observe(m.id, msg.id, msg.name, msg.kind, msg.status, msg.retryAfterMs);
          return;
        case 'health.claim':
          hub!.claim(m.id, msg.id, msg.name);
          return;
        case 'lines':
          lines.write(msg.target, msg.label, msg.data);
          return;
        case 'traffic':
          traffic?.add(msg);
          return;
        case 'metrics.res': {
          const w = metricsWaiters.get(msg.id);
          if (w) w.resolve(msg.error !== undefined ? undefined : msg.metrics);
          return;
        }
        default:
          return;
      }
    },
    onGone(m) {
      hub?.workerGone(m.id);
    },
  });
  hub = new HealthHub(health, (worker, groups) => pool.send(worker, { sy: 'health', groups }));
  feed = new FeedStore(inner, {
    broadcast: (seq, ev, items) => pool.broadcast({ sy: 'change', seq, ev, items }),
    acked: (seq) => pool.acked(seq),
  });
  feed.start();

  /** one worker's registry as JSON, or undefined when it did not answer in time */
  const workerMetrics = (id: number): Promise<unknown[] | undefined> =>
    new Promise((resolve) => {
      const reqId = nextMetricsId++;
      const timer = setTimeout(() => finish(undefined), METRICS_TIMEOUT_MS);
      const finish = (v: unknown[] | undefined) => {
        clearTimeout(timer);
        metricsWaiters.delete(reqId);
        resolve(v);
      };
      metricsWaiters.set(reqId, { resolve: finish });
      pool.send(id, { sy: 'metrics.req', id: reqId });
    });

  /** R-WRK-2: Prometheus values are sums over the workers; node facts come from the primary once */
  const clusterMetrics = async (own: Metrics): Promise<string> => {
    const ownJson = await own.registry.getMetricsAsJSON();
    // the node's start time is the primary's (prom-client would omit the aggregate)
    const startTime = `${own.prefix}process_start_time_seconds`;
    for (const m of ownJson as Array<{ name: string; aggregator?: string }>) if (m.name === startTime) m.aggregator = 'first';
    const once = new Set([`${own.prefix}node_info`, `${own.prefix}upstream_status`, startTime]);
    const parts = await Promise.all(pool.list().filter((w) => w.ready).map((w) => workerMetrics(w.id)));
    const all: unknown[][] = [ownJson];
    for (const p of parts) {
      if (p) all.push((p as Array<{ name: string }>).filter((m) => !once.has(m.name)));
    }
    return AggregatorRegistry.aggregate(all as never).metrics();
  };

  const servers: Array<{ name: string; server: http.Server }> = [];
  const addresses: Record<string, ListenAddr[]> = {};
  const add = async (name: string, handler: Handler, addr: ListenAddr) => {
    const server = await listen((req, res) => {
      activity.started++;
      handler(req, res);
    }, addr);
    servers.push({ name, server });
    (addresses[name] ??= []).push(boundAddr(server));
  };

  try {
    await pool.start();
    addresses.proxy = pool.list()[0]?.addresses ?? [];
    if (config.apisix.enable_admin) {
      await add('admin', createAdminHandler({ config, store: feed, secrets, dashboard: { health } }), config.deployment.admin.admin_listen);
    }
    if (config.apisix.enable_control) await add('control', createControlHandler({ health, store: feed }), config.apisix.control);
    const prom = config.plugin_attr.prometheus;
    if (prom.enable_export_server) {
      const own = createMetrics({ metric_prefix: prom.metric_prefix, default_buckets: prom.default_buckets, llm_latency_buckets: prom.llm_latency_buckets });
      await add('prometheus', createMetricsHandler(prom, own, { health, collect: clusterMetrics }), prom.export_addr);
    }
  } catch (err) {
    for (const s of servers) s.server.close();
    await pool.stop(0).catch(() => {});
    hub.close();
    health.close();
    await lines.close();
    await feed.close();
    throw err;
  }

  log.info(`${size} proxy workers (nginx_config.worker_processes), pids ${pool.list().map((w) => w.pid).join(', ')}`);
  for (const a of addresses.proxy ?? []) log.info(`proxy listening on ${a.ip}:${a.port}`);
  for (const s of servers) {
    const a = boundAddr(s.server);
    log.info(`${s.name} listening on ${a.ip}:${a.port}`);
  }

  const ticker = traffic && startTrafficTicker(() => traffic.take(), (c) => process.stdout.write(formatTraffic(c) + '\n'));
  // the primary counts messages, about one per request of a worker (the
  // full chain with 2 workers: 5 for the start, 48 for 50 requests), so it
  // too stops the idle GCs after about COLD_REQUESTS requests
  const compaction = startIdleCompaction((l) => feed.onChange(l), activity);

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = GRACE_MS): Promise<void> =>
    (stopping ??= (async () => {
      ticker?.stop();
      compaction?.stop();
      const idle = { inFlight: 0, drained: () => Promise.resolve() };
      await Promise.all([
        pool.stop(graceMs),
        drainServers(servers.map((s) => s.server), idle, graceMs),
      ]);
      hub!.close();
      health.close();
      await lines.close();
      await state.close();
      await feed.close();
    })());

  return { config, store: feed, addresses, stop };
}
