// The token-usage accumulator shared by the protocol modules (R-RSP-3,
// R-RSP-12, R-REQ-23, R-REQ-24). What a protocol's answer carries is read by
// that protocol's module (protocols/<name>.ts).

export interface UsageAcc {
  prompt: number;
  completion: number;
  total: number;
  raw?: Record<string, unknown>;
  /** a usage object was seen */
  seen: boolean;
  text: string[];
  /** text up to the (last) usage event, R-RSP-14 */
  textAtUsage?: string;
  /** R-USG-3 `llm_has_tool_calls`: the answer calls tools */
  toolCalls?: boolean;
}

export function newUsage(): UsageAcc {
  return { prompt: 0, completion: 0, total: 0, seen: false, text: [] };
}

export const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** later positive numeric fields overwrite earlier ones (R-RSP-12) */
export function mergeStreamUsage(acc: UsageAcc, prompt: unknown, completion: unknown, total: unknown, raw: Record<string, unknown>): void {
  acc.seen = true;
  acc.raw = acc.raw ? { ...acc.raw, ...raw } : { ...raw };
  if (num(prompt) > 0) acc.prompt = num(prompt);
  if (num(completion) > 0) acc.completion = num(completion);
  if (num(total) > 0) acc.total = num(total);
  else if (acc.total < acc.prompt + acc.completion) acc.total = acc.prompt + acc.completion;
  acc.textAtUsage = acc.text.join('');
}

/** a body's usage object: records it as seen and raw; undefined when absent */
export function bodyUsage(body: any, acc: UsageAcc): any {
  if (!body || typeof body !== 'object') return undefined;
  const u = body.usage;
  if (!u || typeof u !== 'object') return undefined;
  acc.seen = true;
  acc.raw = u;
  return u;
}
