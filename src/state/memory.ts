// In-process SharedState: fixed-window counters (R-RL-11) and small values
// with a TTL. Expiry is lazy (checked on every read); a sweep timer removes
// entries nobody reads any more. The timer is unref'd so it never keeps the
// process alive.
import type { SharedState, WindowCounter } from './types.js';

interface Window {
  used: number;
  /** epoch ms when the window ends */
  endsAt: number;
}

interface Value {
  value: string;
  /** epoch ms, undefined = no expiry */
  expiresAt?: number;
}

export interface MemoryStateOptions {
  /** clock (tests) */
  now?: () => number;
  /** sweep interval in ms (default 30 s) */
  sweepMs?: number;
}

export interface MemoryState extends SharedState {
  /** number of live entries (tests, diagnostics) */
  size(): number;
}

/** whole seconds until `endsAt`, never 0 while the window runs */
export function secondsLeft(endsAt: number, now: number): number {
  return Math.max(1, Math.ceil((endsAt - now) / 1000));
}

export function createMemoryState(opts: MemoryStateOptions = {}): MemoryState {
  const now = opts.now ?? Date.now;
  const windows = new Map<string, Window>();
  const values = new Map<string, Value>();
  let closed = false;

  const liveWindow = (key: string, t: number): Window | undefined => {
    const w = windows.get(key);
    if (!w) return undefined;
    if (w.endsAt <= t) {
      windows.delete(key);
      return undefined;
    }
    return w;
  };

  const sweep = () => {
    const t = now();
    for (const [k, w] of windows) if (w.endsAt <= t) windows.delete(k);
    for (const [k, v] of values) if (v.expiresAt !== undefined && v.expiresAt <= t) values.delete(k);
  };
  const timer = setInterval(sweep, opts.sweepMs ?? 30_000);
  timer.unref();

  return {
    async peek(key: string): Promise<WindowCounter> {
      const t = now();
      const w = liveWindow(key, t);
      if (!w) return { used: 0 };
      return { used: w.used, resetIn: secondsLeft(w.endsAt, t) };
    },
    async charge(key: string, amount: number, windowSec: number): Promise<WindowCounter> {
      const t = now();
      let w = liveWindow(key, t);
      if (!w) {
        w = { used: 0, endsAt: t + Math.max(1, windowSec) * 1000 };
        windows.set(key, w);
      }
      w.used += amount;
      return { used: w.used, resetIn: secondsLeft(w.endsAt, t) };
    },
    async setValue(key: string, value: string, ttlSec?: number): Promise<void> {
      values.set(key, { value, expiresAt: ttlSec !== undefined && ttlSec > 0 ? now() + ttlSec * 1000 : undefined });
    },
    async getValue(key: string): Promise<string | undefined> {
      const v = values.get(key);
      if (!v) return undefined;
      if (v.expiresAt !== undefined && v.expiresAt <= now()) {
        values.delete(key);
        return undefined;
      }
      return v.value;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      windows.clear();
      values.clear();
    },
    size() {
      return windows.size + values.size;
    },
  };
}
