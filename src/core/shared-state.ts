// Shared state (R-RL-30, health sharing): counters with fixed windows and
// small key/value flags, backed by process memory or Redis. Implemented in
// src/state/memory.ts and src/state/redis.ts; chosen per ai-rate-limiting
// configuration (`policy`) or by the gateway for health state.

export interface WindowCounter {
  /** tokens charged in the current window (0 when no window is running) */
  used: number;
  /** whole seconds until the window ends; undefined when no window is running */
  resetIn?: number;
}

export interface SharedState {
  /** read the counter of `key` without changing it */
  peek(key: string): Promise<WindowCounter>;
  /**
   * add `amount` to the counter of `key`; the first charge when no window is
   * running starts a fixed window of `windowSec` seconds (R-RL-11)
   */
  charge(key: string, amount: number, windowSec: number): Promise<WindowCounter>;
  /** set/get a small value (health status sharing) */
  setValue(key: string, value: string, ttlSec?: number): Promise<void>;
  getValue(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}
