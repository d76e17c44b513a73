// SharedState on Redis (R-RL-30): a single node (`policy: redis`) or a Redis
// Cluster (`policy: redis-cluster`) through ioredis.
//
// - charge: one Lua script, INCRBY then PEXPIRE when the key has no TTL yet
//   (EXPIRE NX semantics: the first charge starts the fixed window, R-RL-11);
// - peek: GET + PTTL in one script (nothing is changed);
// - reserve / settle (R-QTA-1): each one script over three keys sharing one
//   hash tag (so they live in one cluster slot): the used counter, the sum
//   of reservations and a sorted set of reservations scored by their
//   deadline. reserve drops expired reservations (a node that crashed while
//   holding some), admits when limit − used − reserved ≥ 1 and adds its
//   own; settle removes the reservation (once: ZREM says whether it was
//   still there) and charges the real cost. N nodes can therefore not
//   overshoot a quota, not even between check and charge;
// - every command is bounded by `redis_timeout` (ioredis commandTimeout plus
//   our own timer), commands are never queued while disconnected (no offline
//   queue: a queued INCRBY would be applied late), and while the connection
//   is known to be down calls fail at once instead of waiting;
// - failures are logged once per burst (first failure, then a recovery line);
// - clients are shared per distinct settings within one gateway (its
//   RedisPool, CompileEnv.redis) and closed when that gateway stops.
import type { Redis, Cluster } from 'ioredis';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

/** ioredis is loaded when the first Redis-backed state is created, not at start (RSS) */
const loadIoredis = (): typeof import('ioredis') => createRequire(import.meta.url)('ioredis');
import type { Admission, SharedState, WindowCounter } from './types.js';
import type { RedisSettings, RedisStateOptions, SharedStatePool } from '../core/shared-state.js';
import type { Logger } from '../core/log.js';
import { withTimeout } from '../core/timeout.js';

export type { RedisSettings, RedisStateOptions };

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

// KEYS: used, reserved sum, reservations (zset); ARGV: amount, limit, member,
// lifetime ms, min room (0: none). Answers {admitted (1, 2 = too close), used, pttl, reserved}
const RESERVE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
if #old > 0 then
  for _, m in ipairs(old) do
    total = total - (tonumber(string.match(m, ':(%d+)$')) or 0)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if total < 0 then total = 0 end
  redis.call('SET', KEYS[2], total)
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local pttl = -2
if used ~= 0 then pttl = redis.call('PTTL', KEYS[1]) end
local room = tonumber(ARGV[2]) - used - total
if room >= 1 and room < tonumber(ARGV[5]) then return {2, used, pttl, total} end
if room >= 1 then
  local life = tonumber(ARGV[4])
  redis.call('ZADD', KEYS[3], now + life, ARGV[3])
  redis.call('INCRBY', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], life)
  redis.call('PEXPIRE', KEYS[3], life)
  return {1, used, pttl, total}
end
return {0, used, pttl, total}
`;

// KEYS: used, reserved sum, reservations; ARGV: member, amount, cost, window ms
const SETTLE_LUA = `
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
  local left = redis.call('DECRBY', KEYS[2], ARGV[2])
  if left <= 0 then redis.call('DEL', KEYS[2]) end
end
local cost = tonumber(ARGV[3])
if cost > 0 then
  redis.call('INCRBY', KEYS[1], cost)
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
end
return 1
`;

/**
 * How long a reservation lives when its node never settles it (the node
 * crashed): a settle normally comes when the answer ends, so this only
 * bounds how long a dead node's in-flight requests keep quota reserved.
 */
export const RESERVATION_LIFETIME_MS = 10 * 60_000;

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
  client.defineCommand('switchyardReserve', { numberOfKeys: 3, lua: RESERVE_LUA });
  client.defineCommand('switchyardSettle', { numberOfKeys: 3, lua: SETTLE_LUA });
  // reservation handles: unique per client and call, `<id>:<amount>` as zset member
  const nodeId = randomBytes(6).toString('base64url');
  let seq = 0;

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
  // the three keys of a quota counter share the hash tag {key}
  const usedKey = (key: string) => `${prefix}{${key}}`;
  const resKeys = (key: string): [string, string, string] => {
    const u = usedKey(key);
    return [u, `${u}:reserved`, `${u}:reservations`];
  };
  return {
    target,
    get failing() { return failing; },
    async peek(key: string): Promise<WindowCounter> {
      const [used, pttl] = await run('peek', () => c.switchyardPeek(usedKey(key)) as Promise<[number, number]>);
      if (pttl === -2 || used === 0 && pttl < 0) return { used: 0 };
      return { used: Number(used), resetIn: pttl > 0 ? Math.max(1, Math.ceil(pttl / 1000)) : undefined };
    },
    async reserve(key: string, amount: number, limit: number, minRoom?: number): Promise<Admission> {
      const amt = Math.max(1, Math.ceil(amount));
      const member = `${nodeId}.${++seq}:${amt}`;
      const [k1, k2, k3] = resKeys(key);
      const [ok, used, pttl, reserved] = await run('reserve', () =>
        c.switchyardReserve(k1, k2, k3, amt, limit, member, RESERVATION_LIFETIME_MS, minRoom ?? 0) as Promise<[number, number, number, number]>);
      const a: Admission = { admitted: ok !== 0, used: Number(used) };
      if (ok === 2) a.tooClose = true;
      if (Number(pttl) > 0) a.resetIn = Math.max(1, Math.ceil(Number(pttl) / 1000));
      if (Number(reserved) > 0) a.reserved = Number(reserved);
      if (ok === 1) a.id = member;
      return a;
    },
    async settle(key: string, id: string, amount: number, cost: number, windowSec: number): Promise<void> {
      const [k1, k2, k3] = resKeys(key);
      const ms = Math.max(1, Math.round(windowSec * 1000));
      await run('settle', () =>
        c.switchyardSettle(k1, k2, k3, id, Math.max(1, Math.ceil(amount)), Math.max(0, Math.round(cost)), ms) as Promise<number>);
    },
    async charge(key: string, amount: number, windowSec: number): Promise<WindowCounter> {
      const ms = Math.max(1, Math.round(windowSec * 1000));
      const [used, pttl] = await run('charge', () =>
        c.switchyardCharge(usedKey(key), Math.round(amount), ms) as Promise<[number, number]>);
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

/** the cache key: every setting that changes the connection */
export function settingsKey(s: RedisSettings): string {
  return JSON.stringify([
    s.policy, s.host ?? null, s.port ?? 6379, s.username ?? null, s.password ?? null, s.database ?? 0,
    !!s.ssl, !!s.sslVerify, s.clusterNodes ?? null, s.clusterName ?? null, s.timeoutMs,
    s.keepaliveTimeoutMs ?? null,
  ]);
}

/**
 * The Redis clients of one running gateway, one per distinct settings,
 * shared by every configuration that names them (CompileEnv.redis); closed
 * when the gateway stops.
 */
export class RedisPool implements SharedStatePool {
  private readonly pool = new Map<string, Entry>();

  /**
   * A shared client for `settings`. Call `release()` when the user goes away
   * (plugin destroy); an unused client is closed after a short grace period
   * so that a configuration reload does not reconnect.
   */
  acquire(settings: RedisSettings, opts: RedisStateOptions): { state: RedisState; release(): void } {
    const pool = this.pool;
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

  /** number of shared clients */
  get size(): number {
    return this.pool.size;
  }

  /** close every client (the gateway stops) */
  async close(): Promise<void> {
    const entries = [...this.pool.values()];
    this.pool.clear();
    await Promise.allSettled(entries.map(async (e) => {
      if (e.idleTimer) clearTimeout(e.idleTimer);
      await e.state.close();
    }));
  }
}
