// R-USG-3 (APISIX 3.18's definitions): details read from the provider's raw
// usage object and the request, on demand (only when a variable or a
// logger asks). OpenAI: `prompt_tokens_details.cached_tokens`,
// `completion_tokens_details.reasoning_tokens`; Anthropic:
// `cache_read_input_tokens`, `cache_creation_input_tokens`; Responses:
// `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`.

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' ? v as Record<string, unknown> : undefined);

export function cacheReadTokens(raw: Record<string, unknown> | undefined): number {
  if (!raw) return 0;
  if (raw.cache_read_input_tokens !== undefined) return num(raw.cache_read_input_tokens);
  return num(obj(raw.prompt_tokens_details)?.cached_tokens) || num(obj(raw.input_tokens_details)?.cached_tokens);
}

export function cacheCreationTokens(raw: Record<string, unknown> | undefined): number {
  return raw ? num(raw.cache_creation_input_tokens) : 0;
}

export function reasoningTokens(raw: Record<string, unknown> | undefined): number {
  if (!raw) return 0;
  return num(obj(raw.completion_tokens_details)?.reasoning_tokens) || num(obj(raw.output_tokens_details)?.reasoning_tokens);
}

/** `llm_tool_count`: the request's `tools` */
export function toolCount(body: unknown): number {
  const t = obj(body)?.tools;
  return Array.isArray(t) ? t.length : 0;
}

/** `llm_end_user_id`: the OpenAI `user` field (Anthropic: `metadata.user_id`) */
export function endUserId(body: unknown): string {
  const b = obj(body);
  if (!b) return '';
  if (typeof b.user === 'string') return b.user;
  const u = obj(b.metadata)?.user_id;
  return typeof u === 'string' ? u : '';
}
