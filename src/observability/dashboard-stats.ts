// Dashboard statistics (R-UI-1): per-instance counters, fixed-size log2
// latency/TTFT histograms and a ring buffer of the last requests. record() is
// called once per request from the proxy's log phase and allocates nothing
// beyond reusing a ring slot; percentiles are computed only by snapshot().
import type { UpstreamAttempt } from '../core/types.js';

/** Histogram buckets: bucket i counts values in [2^(i-1), 2^i) ms; bucket 0 is < 1 ms. */
const BUCKETS = 24;

export interface RequestSample {
  /** epoch ms when the request finished */
  time: number;
  method: string;
  uri: string;
  status: number;
  routeId: string;
  consumer: string;
  instance: string;
  model: string;
  totalTokens: number;
  latencyMs: number;
  ttftMs: number;
  attempts: UpstreamAttempt[];
}

/** What the proxy hands to record(): a view of the finished request. */
export interface RequestView {
  method: string;
  uri: string;
  status: number;
  routeId: string;
  consumer: string;
  instance: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  latencyMs: number;
  ttftMs: number;
  attempts: UpstreamAttempt[];
}

class InstanceStats {
  requests = 0;
  /** failures by outcome: key is the HTTP status class or outcome name */
  failures = new Map<string, number>();
  promptTokens = 0;
  completionTokens = 0;
  totalTokens = 0;
  readonly latency = new Uint32Array(BUCKETS);
  readonly ttft = new Uint32Array(BUCKETS);
}

function bucketOf(ms: number): number {
  if (!(ms >= 1)) return 0;
  const b = 32 - Math.clz32(ms | 0);
  return b >= BUCKETS ? BUCKETS - 1 : b;
}

/** Upper bound (ms) of the bucket holding the q-quantile; 0 when empty. */
export function percentile(h: Uint32Array, q: number): number {
  let total = 0;
  for (let i = 0; i < h.length; i++) total += h[i]!;
  if (total === 0) return 0;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i]!;
    if (seen >= rank) return i === 0 ? 1 : 2 ** i;
  }
  return 2 ** (h.length - 1);
}

export class DashboardStats {
  private readonly instances = new Map<string, InstanceStats>();
  private readonly ring: (RequestSample | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 100) {
    this.ring = new Array(capacity);
  }

  record(v: RequestView): void {
    if (v.instance) {
      let s = this.instances.get(v.instance);
      if (!s) this.instances.set(v.instance, (s = new InstanceStats()));
      s.requests++;
      if (v.status >= 400) {
        const k = v.status >= 500 ? '5xx' : v.status === 429 ? '429' : '4xx';
        s.failures.set(k, (s.failures.get(k) ?? 0) + 1);
      }
      s.promptTokens += v.promptTokens;
      s.completionTokens += v.completionTokens;
      s.totalTokens += v.totalTokens;
      s.latency[bucketOf(v.latencyMs)]!++;
      if (v.ttftMs > 0) s.ttft[bucketOf(v.ttftMs)]!++;
    }
    let slot = this.ring[this.next];
    if (!slot) {
      slot = { time: 0, method: '', uri: '', status: 0, routeId: '', consumer: '', instance: '', model: '',
        totalTokens: 0, latencyMs: 0, ttftMs: 0, attempts: v.attempts };
      this.ring[this.next] = slot;
    }
    slot.time = Date.now();
    slot.method = v.method;
    slot.uri = v.uri;
    slot.status = v.status;
    slot.routeId = v.routeId;
    slot.consumer = v.consumer;
    slot.instance = v.instance;
    slot.model = v.model;
    slot.totalTokens = v.totalTokens;
    slot.latencyMs = v.latencyMs;
    slot.ttftMs = v.ttftMs;
    slot.attempts = v.attempts;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** JSON-ready view; percentiles are computed here, not per request. */
  snapshot(): { instances: Record<string, unknown>; recent: RequestSample[] } {
    const instances: Record<string, unknown> = {};
    for (const [name, s] of this.instances) {
      instances[name] = {
        requests: s.requests,
        failures: Object.fromEntries(s.failures),
        tokens: { prompt: s.promptTokens, completion: s.completionTokens, total: s.totalTokens },
        latency_ms: { p50: percentile(s.latency, 0.5), p95: percentile(s.latency, 0.95), p99: percentile(s.latency, 0.99) },
        ttft_ms: { p50: percentile(s.ttft, 0.5), p95: percentile(s.ttft, 0.95), p99: percentile(s.ttft, 0.99) },
      };
    }
    const recent: RequestSample[] = [];
    for (let i = 1; i <= this.count; i++) {
      const s = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      recent.push({ ...s, attempts: s.attempts.slice() });
    }
    return { instances, recent };
  }
}
