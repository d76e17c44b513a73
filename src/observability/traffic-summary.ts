// The traffic summary `switchyard start` prints on a terminal (issue #15): at
// most one line a second, `traffic: <n> requests, <e> errors, <t> tokens`,
// counting what finished since the previous line, and nothing when nothing
// did. The proxy calls record() once per finished request: two increments
// and, for AI requests, one reference kept until the next line; the tokens
// (a usage parse may be deferred, R-USG) are read on the one-second tick,
// never on the request's path. With several workers each worker sends its
// counts to the primary (src/workers/), which adds them up and prints.
import type { LlmState } from '../core/types.js';

export interface TrafficCounts {
  requests: number;
  errors: number;
  tokens: number;
}

export const TRAFFIC_INTERVAL_MS = 1_000;

/** responses counted as errors: 4xx and 5xx (a client that left first is 499) */
const isError = (status: number) => status >= 400;

export class TrafficTally {
  private requests = 0;
  private errors = 0;
  private tokens = 0;
  private llm: LlmState[] = [];

  record(status: number, llm: LlmState | undefined): void {
    this.requests++;
    if (isError(status)) this.errors++;
    if (llm !== undefined) this.llm.push(llm);
  }

  /** adds counts measured elsewhere (a worker's) */
  add(c: TrafficCounts): void {
    this.requests += c.requests;
    this.errors += c.errors;
    this.tokens += c.tokens;
  }

  /** the counts since the last take(), or undefined when nothing finished */
  take(): TrafficCounts | undefined {
    if (this.requests === 0 && this.tokens === 0) return undefined;
    let tokens = this.tokens;
    for (const s of this.llm) tokens += tokensOf(s);
    const out = { requests: this.requests, errors: this.errors, tokens };
    this.requests = 0;
    this.errors = 0;
    this.tokens = 0;
    this.llm = [];
    return out;
  }
}

function tokensOf(s: LlmState): number {
  try {
    const total = s.totalTokens;
    if (typeof total === 'number' && total > 0) return total;
    const p = s.promptTokens;
    const c = s.completionTokens;
    return (typeof p === 'number' && p > 0 ? p : 0) + (typeof c === 'number' && c > 0 ? c : 0);
  } catch {
    return 0; // a usage that cannot be computed counts as none
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatTraffic(c: TrafficCounts): string {
  return `traffic: ${plural(c.requests, 'request')}, ${plural(c.errors, 'error')}, ${plural(c.tokens, 'token')}`;
}

/** every second, hands the counts since the last tick to `emit` (when there are any) */
export function startTrafficTicker(take: () => TrafficCounts | undefined, emit: (c: TrafficCounts) => void): { stop(): void } {
  const timer = setInterval(() => {
    const c = take();
    if (c !== undefined) emit(c);
  }, TRAFFIC_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
