// R-USG-4 (switchyard): `instances.pricing`, prices per one million tokens,
// compiled once per instance (the cost itself: src/core/llm-cost.ts).
import type { LlmPricing } from '../core/types.js';

export function compilePricing(p: unknown): LlmPricing | undefined {
  if (!p || typeof p !== 'object') return undefined;
  const o = p as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  const input = n(o.input);
  return {
    input,
    output: n(o.output),
    cacheRead: typeof o.cache_read === 'number' ? n(o.cache_read) : input,
    currency: typeof o.currency === 'string' && o.currency !== '' ? o.currency : 'USD',
  };
}

