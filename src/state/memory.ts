// In-process SharedState: fixed-window counters (R-RL-11) with in-flight
// reservations (R-QTA-1), and small values with a TTL. The quota operations
// are also offered without a promise (`now`, see SharedState.now). Expiry is
// lazy (checked on every read); a sweep timer removes entries nobody reads
// any more. The timer is unref'd so it never keeps the process alive.
import type { Admission, SharedState, SyncQuotaOps, WindowCounter } from './types.js';

interface Window {
  used: number;
  /** epoch ms when the window ends; 0 = no window running (only reservations) */
  endsAt: number;
  /** held by admitted requests in flight (R-QTA-1) */
  reserved: number;
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

  /** the entry of `key` with an ended window emptied (deleted when nothing is reserved) */
  const liveWindow = (key: string, t: number): Window | undefined => {
    const w = windows.get(key);
    if (!w) return undefined;
    if (w.endsAt !== 0 && w.endsAt <= t) {
      if (w.reserved <= 0) {
        windows.delete(key);
        return undefined;
      }
      w.used = 0;
      w.endsAt = 0;
    }
    return w;
  };

  const counter = (w: Window, t: number): WindowCounter => {
    const c: WindowCounter = { used: w.used };
    if (w.endsAt !== 0) c.resetIn = secondsLeft(w.endsAt, t);
    if (w.reserved > 0) c.reserved = w.reserved;
    return c;
  };

  const sweep = () => {
    const t = now();
    for (const [k, w] of windows) if (w.endsAt !== 0 && w.endsAt <= t && w.reserved <= 0) windows.delete(k);
    for (const [k, v] of values) if (v.expiresAt !== undefined && v.expiresAt <= t) values.delete(k);
  };
  const timer = setInterval(sweep, opts.sweepMs ?? 30_000);
  timer.unref();

  const now_: SyncQuotaOps = {
    reserve(key: string, amount: number, limit: number, minRoom?: number): Admission {
      const t = now();
      let w = liveWindow(key, t);
      const used = w ? w.used : 0;
      const reserved = w ? w.reserved : 0;
      const room = limit - used - reserved;
      const admitted = room >= 1;
      const a: Admission = { admitted, used };
      if (w && w.endsAt !== 0) a.resetIn = secondsLeft(w.endsAt, t);
      if (reserved > 0) a.reserved = reserved;
      if (admitted && minRoom !== undefined && room < minRoom) {
        a.tooClose = true;
      } else if (admitted) {
        if (!w) {
          w = { used: 0, endsAt: 0, reserved: 0 };
          windows.set(key, w);
        }
        w.reserved += amount;
        a.id = '';
      }
      return a;
    },
    settle(key: string, _id: string, amount: number, cost: number, windowSec: number): void {
      const t = now();
      let w = liveWindow(key, t);
      if (w) w.reserved = Math.max(0, w.reserved - amount);
      if (cost > 0) {
        if (!w) {
          w = { used: 0, endsAt: 0, reserved: 0 };
          windows.set(key, w);
        }
        if (w.endsAt === 0) w.endsAt = t + Math.max(1, windowSec) * 1000;
        w.used += cost;
      } else if (w && w.endsAt === 0 && w.reserved <= 0) {
        windows.delete(key);
      }
    },
    charge(key: string, amount: number, windowSec: number): WindowCounter {
      const t = now();
      let w = liveWindow(key, t);
      if (!w) {
        w = { used: 0, endsAt: 0, reserved: 0 };
        windows.set(key, w);
      }
      if (w.endsAt === 0) w.endsAt = t + Math.max(1, windowSec) * 1000;
      w.used += amount;
      return counter(w, t);
    },
  };

  return {
    now: now_,
    async peek(key: string): Promise<WindowCounter> {
      const t = now();
      const w = liveWindow(key, t);
      if (!w) return { used: 0 };
      return counter(w, t);
    },
    async reserve(key: string, amount: number, limit: number, minRoom?: number): Promise<Admission> {
      return now_.reserve(key, amount, limit, minRoom);
    },
    async settle(key: string, id: string, amount: number, cost: number, windowSec: number): Promise<void> {
      now_.settle(key, id, amount, cost, windowSec);
    },
    async charge(key: string, amount: number, windowSec: number): Promise<WindowCounter> {
      return now_.charge(key, amount, windowSec);
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
