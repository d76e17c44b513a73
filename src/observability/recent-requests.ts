// The last requests, for the dashboard (R-UI-1). A ring of preallocated
// slots: record() copies references and numbers into the next slot, so a
// request costs a few stores and one performance.now(); nothing is
// allocated, serialized or computed per request. Tokens, the attempts trail
// and everything else are read from the kept references only when the
// dashboard asks (snapshot()), so a deferred usage parse (R-USG) runs then,
// never on the request's path.
import { performance } from 'node:perf_hooks';
import type { LlmState, UpstreamAttempt } from '../core/types.js';

/** what a finished request exposes to the ring (ProxyContext has these members) */
export interface RecordableRequest {
  readonly startEpochMs: number;
  readonly startTime: number;
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  readonly routeId?: string;
  readonly consumer?: { username: string };
  /** the request's LLM state when an AI plugin created one (never allocates) */
  readonly llmIfAny: LlmState | undefined;
  /** the upstream attempts when any were made (never allocates) */
  readonly attemptsIfAny: UpstreamAttempt[] | undefined;
}

class Slot {
  seq = 0;
  time = 0;
  method = '';
  uri = '';
  status = 0;
  routeId: string | undefined = undefined;
  consumer: string | undefined = undefined;
  latencyMs = 0;
  llm: LlmState | undefined = undefined;
  attempts: UpstreamAttempt[] | undefined = undefined;
}

/** one attempt of the trail: R-RTY-4's `{instance, outcome, ms}`, or an upstream attempt */
export interface AttemptView {
  instance?: string;
  addr?: string;
  outcome: string;
  ms: number;
}

export interface RequestView {
  /** 1 for the first request recorded since start, then counting up */
  seq: number;
  /** epoch ms when the request started */
  time: number;
  method: string;
  uri: string;
  status: number;
  route_id: string | null;
  consumer: string | null;
  instance: string | null;
  provider: string | null;
  request_model: string | null;
  model: string | null;
  stream: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  latency_ms: number;
  ttft_ms: number | null;
  attempts: AttemptView[];
}

const DEFAULT_CAPACITY = 100;

export class RecentRequests {
  private readonly slots: Slot[];
  private next = 0;
  private filled = 0;
  /** requests recorded since start */
  total = 0;

  constructor(readonly capacity = DEFAULT_CAPACITY) {
    if (!(capacity >= 1)) throw new Error('capacity must be at least 1');
    this.slots = new Array<Slot>(capacity);
    for (let i = 0; i < capacity; i++) this.slots[i] = new Slot();
  }

  record(r: RecordableRequest): void {
    const s = this.slots[this.next]!;
    s.seq = ++this.total;
    s.time = r.startEpochMs;
    s.method = r.method;
    s.uri = r.uri;
    s.status = r.status;
    s.routeId = r.routeId;
    s.consumer = r.consumer?.username;
    s.latencyMs = performance.now() - r.startTime;
    s.llm = r.llmIfAny;
    s.attempts = r.attemptsIfAny;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.filled < this.capacity) this.filled++;
  }

  /** newest first; reads the kept references (a deferred usage parse runs here) */
  snapshot(limit = this.capacity): RequestView[] {
    const out: RequestView[] = [];
    const n = Math.min(limit, this.filled);
    for (let i = 1; i <= n; i++) {
      const s = this.slots[(this.next - i + this.capacity) % this.capacity]!;
      out.push(view(s));
    }
    return out;
  }
}

const nonEmpty = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

function view(s: Slot): RequestView {
  const llm = s.llm;
  let prompt = 0;
  let completion = 0;
  let total = 0;
  let ttft: number | null = null;
  if (llm) {
    try {
      prompt = count(llm.promptTokens);
      completion = count(llm.completionTokens);
      total = count(llm.totalTokens) || prompt + completion;
    } catch {
      // a usage that cannot be computed shows as 0
    }
    ttft = llm.timeToFirstTokenMs > 0 ? llm.timeToFirstTokenMs : null;
  }
  return {
    seq: s.seq,
    time: s.time,
    method: s.method,
    uri: s.uri,
    status: s.status,
    route_id: nonEmpty(s.routeId),
    consumer: nonEmpty(s.consumer),
    instance: nonEmpty(llm?.instanceName),
    provider: nonEmpty(llm?.provider),
    request_model: nonEmpty(llm?.requestModel),
    model: nonEmpty(llm?.model),
    stream: llm?.requestType === 'ai_stream',
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: total,
    latency_ms: Math.round(s.latencyMs),
    ttft_ms: ttft,
    attempts: attemptsOf(llm, s.attempts),
  };
}

/**
 * R-RTY-4's trail (`llm.attempts`: `{instance, outcome, ms}`) when the LLM
 * engine keeps one, else the upstream attempts (`$upstream_addr`/`status`).
 */
function attemptsOf(llm: LlmState | undefined, upstream: UpstreamAttempt[] | undefined): AttemptView[] {
  const trail = (llm as { attempts?: unknown } | undefined)?.attempts;
  if (Array.isArray(trail) && trail.length) {
    const out: AttemptView[] = [];
    for (const a of trail) {
      if (!a || typeof a !== 'object') continue;
      const o = a as Record<string, unknown>;
      out.push({
        instance: typeof o.instance === 'string' ? o.instance : typeof o.name === 'string' ? o.name : undefined,
        outcome: String(o.outcome ?? o.status ?? ''),
        ms: typeof o.ms === 'number' ? o.ms : 0,
      });
    }
    return out;
  }
  if (!upstream) return [];
  return upstream.map((a) => ({
    addr: a.addr,
    outcome: a.status >= 200 && a.status < 400 ? 'ok' : String(a.status || 'error'),
    ms: Math.round(a.time * 1000),
  }));
}
