// Shared state (R-RL-30, R-QTA-1, health sharing): quota counters with fixed
// windows and in-flight reservations, and small key/value flags, backed by
// process memory or Redis. Implemented in src/state/memory.ts and
// src/state/redis.ts; chosen per ai-rate-limiting configuration (`policy`)
// or by the gateway for health state. Lives in core so core/types.ts can name it.
//
// The quota operations are few and asynchronous on purpose (peek, reserve,
// settle, charge): each is one message, so the counters of `policy: local`
// can live in one process that the workers reach over IPC, and with Redis
// each is one atomic script.
import type { Logger } from './log.js';

export interface WindowCounter {
  /** tokens charged in the current window (0 when no window is running) */
  used: number;
  /** whole seconds until the window ends; undefined when no window is running */
  resetIn?: number;
  /** reserved by admitted requests still in flight (R-QTA-1); absent when 0 */
  reserved?: number;
}

/** the answer of reserve(): the counter as seen before this request's own reservation */
export interface Admission extends WindowCounter {
  /** used + reserved < limit (more exactly: limit − used − reserved ≥ 1, R-RL-10 with R-QTA-1) */
  admitted: boolean;
  /** when admitted: the reservation's handle, for settle() (absent when `tooClose`) */
  id?: string;
  /**
   * admitted, but the room left (limit − used − reserved) is smaller than
   * the `minRoom` asked for: nothing was reserved; reserve again with an
   * exact amount (R-QTA-2: the cheap upper bound is only used far from the limit)
   */
  tooClose?: boolean;
}

export interface SharedState {
  /** read the counter of `key` without changing it */
  peek(key: string): Promise<WindowCounter>;
  /**
   * R-QTA-1 admission, atomically: when `limit − used − reserved ≥ 1` the
   * request is admitted and `amount` is added to the counter's reservations
   * (a reservation never starts the window). Otherwise nothing changes.
   * With `minRoom`, `amount` is a cheap upper bound: it is reserved only when
   * the room left is at least `minRoom`, else the answer is `tooClose`.
   */
  reserve(key: string, amount: number, limit: number, minRoom?: number): Promise<Admission>;
  /**
   * Atomically replace reservation `id` (of `amount`) by the real `cost`:
   * the reservation is removed and `cost` (when > 0) is charged as charge()
   * does. `cost` 0 only releases. Settling an unknown or already settled id
   * releases nothing (a crashed node's reservations expire on their own).
   */
  settle(key: string, id: string, amount: number, cost: number, windowSec: number): Promise<void>;
  /**
   * add `amount` to the counter of `key`; the first charge when no window is
   * running starts a fixed window of `windowSec` seconds (R-RL-11)
   */
  charge(key: string, amount: number, windowSec: number): Promise<WindowCounter>;
  /** set/get a small value (health status sharing) */
  setValue(key: string, value: string, ttlSec?: number): Promise<void>;
  getValue(key: string): Promise<string | undefined>;
  close(): Promise<void>;
  /**
   * the counters live in another process of this node (`policy: local`
   * under worker_processes > 1): a charge made after the answer ended could
   * reach them after the client's next request did (R-WRK-2)
   */
  readonly remote?: boolean;
  /**
   * The same quota operations without a promise, offered only by a store
   * in this process (src/state/memory.ts, one worker): ai-rate-limiting
   * takes them on the request path, where the promises, async frames and
   * microtask hops of the asynchronous ones cost more than the counter update.
   */
  readonly now?: SyncQuotaOps;
}

/** reserve / settle / charge answered at once (see SharedState.now) */
export interface SyncQuotaOps {
  reserve(key: string, amount: number, limit: number, minRoom?: number): Admission;
  settle(key: string, id: string, amount: number, cost: number, windowSec: number): void;
  charge(key: string, amount: number, windowSec: number): WindowCounter;
}

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

/** Redis clients shared by the configurations that name the same settings; the running gateway owns one (src/state/redis.ts) */
export interface SharedStatePool {
  /** a shared client for `settings`; `release()` when the configuration is gone */
  acquire(settings: RedisSettings, opts: RedisStateOptions): { state: SharedState; release(): void };
}
