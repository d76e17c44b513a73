// SharedState on Redis (R-RL-30): a single node (`policy: redis`) or a Redis
// Cluster (`policy: redis-cluster`) through ioredis.
//
// - charge: one Lua script, INCRBY then PEXPIRE when the key has no TTL yet
//   (EXPIRE NX semantics: the first charge starts the fixed window, R-RL-11);
// - peek: GET + PTTL in one script (nothing is changed);
// - every command is bounded by `redis_timeout` (ioredis commandTimeout plus
//   our own timer), commands are never queued while disconnected (no offline
//   queue: a queued INCRBY would be applied late), and while the connection
//   is known to be down calls fail at once instead of waiting;
// - failures are logged once per burst (first failure, then a recovery line);
// - clients are shared per distinct settings (acquireRedisState) and closed
//   on shutdown (src/core/lifecycle.ts).
import type { Redis, Cluster } from 'ioredis';
import { createRequire } from 'node:module';

/** ioredis is loaded when the first Redis-backed state is created, not at start (RSS) */
const loadIoredis = (): typeof import('ioredis') => createRequire(import.meta.url)('ioredis');
import type { SharedState, WindowCounter } from './types.js';
import type { Logger } from '../core/log.js';
import { onShutdown } from '../core/lifecycle.js';
import { withTimeout } from '../core/timeout.js';

export interface RedisSettings {
  policy: 'redis' | 'redis-cluster';
  /** redis */
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  database?: number;
  ssl?: boolean;
  sslVerify?: boolean;
  /** redis-cluster: `host:port` strings */
  clusterNodes?: string[];
  clusterName?: string;
  /** ms, bounds connect and every command */
  timeoutMs: number;
  /** ms (TCP keepalive probe delay) */
  keepaliveTimeoutMs?: number;
  /** accepted for APISIX compatibility: ioredis multiplexes one connection per client */
  keepalivePool?: number;
}

export interface RedisStateOptions {
  log: Logger;
  /** who uses the state, for log lines (default `shared state`) */
  label?: string;
  /** prefix of every key (default `switchyard:`) */
  keyPrefix?: string;
}

export interface RedisState extends SharedState {
  /** `host:port` or the cluster's name, for log lines */
  readonly target: string;
  /** true while the last operation failed and no recovery was seen */
  readonly failing: boolean;
}

const CHARGE_LUA = `
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {used, ttl}
`;

const PEEK_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return {0, -2} end
return {tonumber(v) or 0, redis.call('PTTL', KEYS[1])}
`;

type Client = Redis | Cluster;

export class RedisUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

function parseNode(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  if (i <= 0) return { host: s, port: 6379 };
  let host = s.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(s.slice(i + 1)) || 6379 };
}

/** Logs the first failure of a burst and the recovery; everything in between is counted. */
class BurstLog {
  private inBurst = false;
  private suppressed = 0;
  private lastLineAt = 0;
  constructor(private readonly log: Logger, private readonly what: string) {}

  fail(reason: string): void {
    const t = Date.now();
    if (!this.inBurst) {
      this.inBurst = true;
      this.suppressed = 0;
      this.lastLineAt = t;
      this.log.error(`${this.what} unavailable: ${reason} (further errors suppressed until it recovers)`);
      return;
    }
    this.suppressed++;
    // a very long outage gets a reminder once a minute
    if (t - this.lastLineAt >= 60_000) {
      this.lastLineAt = t;
      this.log.error(`${this.what} still unavailable: ${reason} (${this.suppressed} errors since last report)`);
      this.suppressed = 0;
    }
  }

  ok(): void {
    if (!this.inBurst) return;
    this.inBurst = false;
    this.log.info(`${this.what} available again`);
  }
}

export function describeTarget(s: RedisSettings): string {
  if (s.policy === 'redis-cluster') return `redis cluster ${s.clusterName ?? ''} (${(s.clusterNodes ?? []).join(',')})`;
  return `redis ${s.host}:${s.port ?? 6379}`;
}

export function createRedisState(settings: RedisSettings, opts: RedisStateOptions): RedisState {
  const timeoutMs = Math.max(1, settings.timeoutMs || 1000);
  const prefix = opts.keyPrefix ?? 'switchyard:';
  const target = describeTarget(settings);
  const burst = new BurstLog(opts.log, `${opts.label ?? 'shared state'}: ${target}`);
  let failing = false;
  let closed = false;
  /** `p`, or a RedisUnavailableError after the command timeout */
  const bounded = <T>(p: Promise<T>, what: string): Promise<T> =>
    withTimeout(p, timeoutMs, () => new RedisUnavailableError(`${what} timed out after ${timeoutMs} ms`), { unref: true });

  const common = {
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    keepAlive: settings.keepaliveTimeoutMs ?? 10_000,
  };
  const retryStrategy = (times: number) => Math.min(50 * times, 1000);

  let client: Client;
  if (settings.policy === 'redis-cluster') {
    const tls = settings.ssl ? { rejectUnauthorized: !!settings.sslVerify } : undefined;
    client = new (loadIoredis().Cluster)((settings.clusterNodes ?? []).map(parseNode), {
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: retryStrategy,
      slotsRefreshTimeout: timeoutMs,
      redisOptions: {
        ...common,
        password: settings.password,
        username: settings.username,
        tls,
      },
    });
  } else {
    client = new (loadIoredis().Redis)({
      ...common,
      host: settings.host,
      port: settings.port ?? 6379,
      username: settings.username,
      password: settings.password,
      db: settings.database ?? 0,
      tls: settings.ssl ? { rejectUnauthorized: !!settings.sslVerify, servername: settings.host } : undefined,
      retryStrategy,
    });
  }
  client.defineCommand('switchyardCharge', { numberOfKeys: 1, lua: CHARGE_LUA });
  client.defineCommand('switchyardPeek', { numberOfKeys: 1, lua: PEEK_LUA });

  const markFailed = (reason: string) => {
    failing = true;
    burst.fail(reason);
  };
  client.on('error', (err: Error) => {
    if (!closed) markFailed(err.message || String(err));
  });
  client.on('ready', () => {
    failing = false;
    burst.ok();
  });

  let connecting: Promise<void> | undefined;
  const ensureReady = async (): Promise<void> => {
    if (closed) throw new RedisUnavailableError(`${target}: client closed`);
    const status = client.status;
    if (status === 'ready') return;
    // known to be down: fail at once; ioredis keeps reconnecting in the background
    if (failing && status !== 'wait') throw new RedisUnavailableError(`${target} not connected (${status})`);
    if (status === 'wait' || status === 'end') {
      if (!connecting) {
        connecting = client.connect().then(
          () => { connecting = undefined; },
          (err: Error) => {
            connecting = undefined;
            throw err;
          },
        );
      }
      await bounded(connecting, `connecting to ${target}`);
      return;
    }
    // connecting / connect / reconnecting: wait for ready, bounded
    await bounded(
      new Promise<void>((resolve, reject) => {
        const onReady = () => { cleanup(); resolve(); };
        const onEnd = () => { cleanup(); reject(new RedisUnavailableError(`${target} connection ended`)); };
        const onError = (err: Error) => { cleanup(); reject(new RedisUnavailableError(`${target}: ${err.message}`)); };
        const cleanup = () => {
          client.off('ready', onReady);
          client.off('end', onEnd);
          client.off('error', onError);
        };
        client.once('ready', onReady);
        client.once('end', onEnd);
        client.once('error', onError);
      }),
      `connecting to ${target}`,
    );
  };

  const run = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      await ensureReady();
      const v = await bounded(fn(), what);
      if (failing) {
        failing = false;
        burst.ok();
      }
      return v;
    } catch (err) {
      const msg = (err as Error)?.message ?? String(err);
      markFailed(msg);
      throw err instanceof RedisUnavailableError ? err : new RedisUnavailableError(`${target}: ${msg}`);
    }
  };

  const c = client as any;
  return {
    target,
    get failing() { return failing; },
    async peek(key: string): Promise<WindowCounter> {
      const [used, pttl] = await run('peek', () => c.switchyardPeek(prefix + key) as Promise<[number, number]>);
      if (pttl === -2 || used === 0 && pttl < 0) return { used: 0 };
      return { used: Number(used), resetIn: pttl > 0 ? Math.max(1, Math.ceil(pttl / 1000)) : undefined };
    },
    async charge(key: string, amount: number, windowSec: number): Promise<WindowCounter> {
      const ms = Math.max(1, Math.round(windowSec * 1000));
      const [used, pttl] = await run('charge', () =>
        c.switchyardCharge(prefix + key, Math.round(amount), ms) as Promise<[number, number]>);
      return { used: Number(used), resetIn: Math.max(1, Math.ceil(Number(pttl) / 1000)) };
    },
    async setValue(key: string, value: string, ttlSec?: number): Promise<void> {
      await run('set', () =>
        ttlSec !== undefined && ttlSec > 0
          ? client.set(prefix + key, value, 'PX', Math.round(ttlSec * 1000))
          : client.set(prefix + key, value));
    },
    async getValue(key: string): Promise<string | undefined> {
      const v = await run('get', () => client.get(prefix + key));
      return v ?? undefined;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        if (client.status === 'ready') await bounded(client.quit().then(() => undefined), 'quit');
      } catch { /* fall through to disconnect */ }
      client.disconnect();
    },
  };
}

// ---- shared clients, one per distinct settings ----

interface Entry {
  state: RedisState;
  refs: number;
  idleTimer?: NodeJS.Timeout;
}
const pool = new Map<string, Entry>();
let unhook: (() => void) | undefined;

/** the cache key: every setting that changes the connection */
export function settingsKey(s: RedisSettings): string {
  return JSON.stringify([
    s.policy, s.host ?? null, s.port ?? 6379, s.username ?? null, s.password ?? null, s.database ?? 0,
    !!s.ssl, !!s.sslVerify, s.clusterNodes ?? null, s.clusterName ?? null, s.timeoutMs,
    s.keepaliveTimeoutMs ?? null,
  ]);
}

/**
 * A shared client for `settings`. Call `release()` when the user goes away
 * (plugin destroy); an unused client is closed after a short grace period
 * so that a configuration reload does not reconnect.
 */
export function acquireRedisState(settings: RedisSettings, opts: RedisStateOptions): { state: RedisState; release(): void } {
  const key = settingsKey(settings);
  let e = pool.get(key);
  if (!e) {
    e = { state: createRedisState(settings, opts), refs: 0 };
    pool.set(key, e);
  }
  if (e.idleTimer) {
    clearTimeout(e.idleTimer);
    e.idleTimer = undefined;
  }
  e.refs++;
  if (!unhook) unhook = onShutdown(closeAllRedisStates);
  const entry = e;
  let released = false;
  return {
    state: entry.state,
    release() {
      if (released) return;
      released = true;
      entry.refs--;
      if (entry.refs > 0) return;
      entry.idleTimer = setTimeout(() => {
        if (entry.refs > 0 || pool.get(key) !== entry) return;
        pool.delete(key);
        void entry.state.close();
      }, 5_000);
      entry.idleTimer.unref();
    },
  };
}

/** number of shared clients (tests) */
export function redisPoolSize(): number {
  return pool.size;
}

export async function closeAllRedisStates(): Promise<void> {
  const entries = [...pool.values()];
  pool.clear();
  unhook?.();
  unhook = undefined;
  await Promise.allSettled(entries.map(async (e) => {
    if (e.idleTimer) clearTimeout(e.idleTimer);
    await e.state.close();
  }));
}
