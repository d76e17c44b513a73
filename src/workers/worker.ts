// One proxy worker (R-WRK-1..2): a cluster worker process that serves the
// proxy listeners on its own event loop. It owns nothing another worker must
// see: the configuration comes from the primary (snapshot at start, then the
// change feed, each change acknowledged once it is live), the `policy: local`
// counters and the health checkers live in the primary (remote-state.ts,
// remote-health.ts), log lines are written by the primary (line-sink
// forwarding), and its metrics are summed by the primary on each scrape.
import type http from 'node:http';
import type { GatewayConfig, ListenAddr } from '../config/types.js';
import { GatewayTransport } from '../transport/index.js';
import { RedisPool } from '../state/redis.js';
import { GcpTokenCache } from '../llm/providers/gcp-token.js';
import { RuntimeHolder } from '../runtime/holder.js';
import { createProxyHandler } from '../proxy/server.js';
import { TrafficTally, startTrafficTicker } from '../observability/traffic-summary.js';
import { listen } from '../proxy/http-listener.js';
import { endStartupTuning } from '../core/v8-tuning.js';
import { ProxyContext } from '../proxy/context.js';
import { createAccessLog } from '../observability/access-log.js';
import { forwardLineSinks } from '../observability/line-sink.js';
import { createMetrics } from '../observability/metrics.js';
import { log } from '../core/log.js';
import { GatewayScope } from '../core/lifecycle.js';
import { boundAddr, drainServers, GRACE_MS, startIdleCompaction } from '../app.js';
import { MirrorStore } from './mirror-store.js';
import { createRemoteCaller, createRemoteState } from './remote-state.js';
import { createRemoteHealth } from './remote-health.js';
import { isSy, type ToPrimary, type ToWorker } from './messages.js';

type Init = Extract<ToWorker, { sy: 'init' }>;

function send(msg: ToPrimary, done?: (err: Error | null) => void): void {
  if (!process.connected) {
    done?.(new Error('the primary process is gone'));
    return;
  }
  try {
    process.send!(msg, undefined, undefined, done);
  } catch (err) {
    done?.(err as Error);
  }
}

function listenError(addr: ListenAddr, err: NodeJS.ErrnoException): string {
  const why = err.code ? `${err.code}${err.code === 'EADDRINUSE' ? ' (address already in use)' : err.code === 'EACCES' ? ' (permission denied)' : ''}` : err.message;
  return `proxy cannot listen on ${addr.ip}:${addr.port}: ${why}`;
}

/** runs until the primary says stop (or goes away); resolves to the exit code */
export async function runWorker(): Promise<number> {
  let onInit: (m: Init) => void = () => {};
  const initP = new Promise<Init>((resolve) => (onInit = resolve));
  let handle: (msg: ToWorker) => void = (msg) => {
    if (msg.sy === 'init') onInit(msg as Init);
  };
  process.on('message', (msg: unknown) => {
    if (isSy(msg)) handle(msg as ToWorker);
  });
  let stopRequested: ((graceMs: number) => void) | undefined;
  let earlyStop: number | undefined;
  const requestStop = (graceMs: number) => {
    if (stopRequested) stopRequested(graceMs);
    else earlyStop ??= graceMs;
  };
  // the primary stops the workers (SIGINT from a terminal reaches the whole
  // process group: the primary's stop message is the one that counts)
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => requestStop(GRACE_MS));
  process.on('disconnect', () => {
    log.error('the primary process is gone: stopping this worker');
    requestStop(5_000);
  });
  send({ sy: 'hello' });
  const init = await initP;
  const config: GatewayConfig = init.config;

  forwardLineSinks((target, label) => (data, done) => send({ sy: 'lines', target, label, data }, done));
  const store = new MirrorStore(init.items);
  const caller = createRemoteCaller((calls) => send({ sy: 'rpc', calls }));
  const state = createRemoteState(caller, init.stateMethods);
  const health = createRemoteHealth(send, config.apisix.disable_upstream_healthcheck);
  const prom = config.plugin_attr.prometheus;
  const metrics = createMetrics({ metric_prefix: prom.metric_prefix, default_buckets: prom.default_buckets, llm_latency_buckets: prom.llm_latency_buckets });
  const transport = new GatewayTransport();
  const gcpTokens = new GcpTokenCache(transport);
  const redis = new RedisPool();
  const scope = new GatewayScope();
  const holder = new RuntimeHolder(store, { state, health, transport, gcpTokens, redis, metrics, scope, log });
  const accessLog = createAccessLog(config.nginx_config.http, log, { resolveVar: ProxyContext.getterFor, metrics });
  const traffic = init.trafficSummary ? new TrafficTally() : undefined;
  const proxy = createProxyHandler({ holder, accessLog, log, maxPostArgsBytes: (config.apisix.max_post_args_readable_size ?? 64) * 1024 * 1024, traffic });
  const ticker = traffic && startTrafficTicker(() => traffic.take(), (c) => send({ sy: 'traffic', ...c }));

  let acked = init.seq;
  let ackScheduled = false;
  const ack = () => {
    ackScheduled = false;
    send({ sy: 'ack', seq: acked });
  };
  handle = (msg) => {
    switch (msg.sy) {
      case 'change':
        store.apply(msg.ev, msg.items);
        // compile now, not on the next request, and say so once per burst
        holder.refresh();
        acked = msg.seq;
        if (!ackScheduled) {
          ackScheduled = true;
          setImmediate(ack);
        }
        return;
      case 'rpc.res':
        caller.settle(msg.results);
        return;
      case 'health':
        health.update(msg.groups);
        return;
      case 'metrics.req':
        metrics.registry.getMetricsAsJSON().then(
          (m) => send({ sy: 'metrics.res', id: msg.id, metrics: m }),
          (err: Error) => send({ sy: 'metrics.res', id: msg.id, error: err.message }),
        );
        return;
      case 'stop':
        requestStop(msg.graceMs);
        return;
      default:
        return;
    }
  };

  const servers: http.Server[] = [];
  const addresses: ListenAddr[] = [];
  for (const addr of config.apisix.node_listen) {
    try {
      const server = await listen(proxy.handler, addr, { ownsHeaders: true });
      servers.push(server);
      addresses.push(boundAddr(server));
    } catch (err) {
      send({ sy: 'fail', error: listenError(addr, err as NodeJS.ErrnoException) });
      for (const s of servers) s.close();
      holder.close();
      gcpTokens.close();
      await redis.close();
      await transport.close();
      return 1;
    }
  }
  endStartupTuning();
  const compaction = startIdleCompaction((l) => holder.onSwap(l), proxy);
  send({ sy: 'ready', addresses });

  const graceMs = await new Promise<number>((resolve) => {
    if (earlyStop !== undefined) resolve(earlyStop);
    else stopRequested = resolve;
  });
  await drainServers(servers, proxy, graceMs);
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
  caller.fail('the worker is stopping');
  return 0;
}
