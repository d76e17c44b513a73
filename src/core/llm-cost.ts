// R-USG-4 (switchyard): the cost of one request from its usage and the
// serving instance's prices (per one million tokens). OpenAI's
// `prompt_tokens` include the cached ones (`prompt_tokens_details.cached_tokens`);
// Anthropic's `input_tokens` exclude them (`cache_read_input_tokens`, and
// `cache_creation_input_tokens`, charged at the input price).
import type { LlmPricing, LlmState } from './types.js';
import { cacheCreationTokens, cacheReadTokens } from './usage-details.js';

/** `llm.rawUsage !== undefined`, without computing a raw usage that is left to be parsed when read */
export function rawUsageKnown(llm: LlmState): boolean {
  return llm.hasRawUsage ?? llm.rawUsage !== undefined;
}

/** the cost of `prompt`/`completion` tokens with the raw usage's cache details */
export function usageCost(pr: LlmPricing, prompt: number, completion: number, raw: Record<string, unknown> | undefined): number {
  const cached = cacheReadTokens(raw);
  const anthropic = raw !== undefined && raw.cache_read_input_tokens !== undefined;
  const uncached = (anthropic ? prompt : Math.max(0, prompt - cached)) + (anthropic ? cacheCreationTokens(raw) : 0);
  return (uncached * pr.input + cached * pr.cacheRead + completion * pr.output) / 1e6;
}

/** the request's cost, undefined without pricing or usage */
export function llmCost(llm: LlmState): number | undefined {
  const pr = llm.pricing;
  if (pr === undefined) return undefined;
  const raw = llm.rawUsage;
  if (raw === undefined && llm.promptTokens === 0 && llm.completionTokens === 0) return undefined;
  return usageCost(pr, llm.promptTokens, llm.completionTokens, raw);
}

/** `$llm_cost`: the cost rounded to 10 decimals ('' when unknown) */
export function llmCostText(llm: LlmState): string {
  const c = llmCost(llm);
  return c === undefined ? '' : String(Math.round(c * 1e10) / 1e10);
}
