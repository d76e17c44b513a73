// Token usage and response text from LLM responses (R-RSP-3, R-RSP-12,
// R-REQ-23, R-REQ-24), by protocol.
import type { Protocol } from './providers/index.js';

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
}

export function newUsage(): UsageAcc {
  return { prompt: 0, completion: 0, total: 0, seen: false, text: [] };
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** non-streaming JSON body (already parsed) */
export function usageFromBody(protocol: Protocol, body: any, acc: UsageAcc): void {
  if (!body || typeof body !== 'object') return;
  const u = body.usage;
  if (u && typeof u === 'object') {
    acc.seen = true;
    acc.raw = u;
    switch (protocol) {
      case 'anthropic-messages':
        acc.prompt = num(u.input_tokens);
        acc.completion = num(u.output_tokens);
        acc.total = acc.prompt + acc.completion;
        break;
      case 'openai-responses':
        acc.prompt = num(u.input_tokens);
        acc.completion = num(u.output_tokens);
        acc.total = u.total_tokens !== undefined ? num(u.total_tokens) : acc.prompt + acc.completion;
        break;
      case 'openai-embeddings':
      case 'vertex-predict':
        acc.prompt = num(u.prompt_tokens);
        acc.completion = 0;
        acc.total = u.total_tokens !== undefined ? num(u.total_tokens) : acc.prompt;
        break;
      default:
        acc.prompt = num(u.prompt_tokens);
        acc.completion = num(u.completion_tokens);
        acc.total = u.total_tokens !== undefined ? num(u.total_tokens) : acc.prompt + acc.completion;
    }
  }
  // response text (R-RSP-3)
  if (protocol === 'openai-chat' && Array.isArray(body.choices)) {
    const parts: string[] = [];
    for (const c of body.choices) if (typeof c?.message?.content === 'string') parts.push(c.message.content);
    if (parts.length) acc.textAtUsage = parts.join(' ');
  } else if (protocol === 'anthropic-messages' && Array.isArray(body.content)) {
    const parts: string[] = [];
    for (const b of body.content) if (b?.type === 'text' && typeof b.text === 'string') parts.push(b.text);
    if (parts.length) acc.textAtUsage = parts.join(' ');
  } else if (protocol === 'openai-responses' && Array.isArray(body.output)) {
    const parts: string[] = [];
    for (const o of body.output) {
      if (!Array.isArray(o?.content)) continue;
      for (const c of o.content) if (c?.type === 'output_text' && typeof c.text === 'string') parts.push(c.text);
    }
    if (parts.length) acc.textAtUsage = parts.join(' ');
  }
}

/** later positive numeric fields overwrite earlier ones (R-RSP-12) */
function mergeStreamUsage(acc: UsageAcc, prompt: unknown, completion: unknown, total: unknown, raw: Record<string, unknown>): void {
  acc.seen = true;
  acc.raw = acc.raw ? { ...acc.raw, ...raw } : { ...raw };
  if (num(prompt) > 0) acc.prompt = num(prompt);
  if (num(completion) > 0) acc.completion = num(completion);
  if (num(total) > 0) acc.total = num(total);
  else if (acc.total < acc.prompt + acc.completion) acc.total = acc.prompt + acc.completion;
  acc.textAtUsage = acc.text.join('');
}

/**
 * One SSE event of a stream in `protocol`. `wantText` collects text deltas
 * (only needed for logging.payloads). Returns true at the end marker.
 */
export function usageFromEvent(protocol: Protocol, event: string, data: string, acc: UsageAcc, wantText: boolean): boolean {
  if (protocol === 'openai-chat') {
    if (data === '[DONE]') return true;
    if (!wantText && data.indexOf('"usage"') < 0) return false;
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    if (wantText && Array.isArray(j?.choices)) {
      for (const c of j.choices) if (typeof c?.delta?.content === 'string') acc.text.push(c.delta.content);
    }
    const u = j?.usage;
    if (u && typeof u === 'object') mergeStreamUsage(acc, u.prompt_tokens, u.completion_tokens, u.total_tokens, u);
    return false;
  }
  if (protocol === 'anthropic-messages') {
    if (!wantText && data.indexOf('usage') < 0) return event === 'message_stop';
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    const type = j?.type ?? event;
    if (type === 'content_block_delta' && wantText && typeof j?.delta?.text === 'string') acc.text.push(j.delta.text);
    const u = type === 'message_start' ? j?.message?.usage : type === 'message_delta' ? j?.usage : undefined;
    if (u && typeof u === 'object') {
      const p = num(u.input_tokens) > 0 ? u.input_tokens : acc.prompt;
      const c = num(u.output_tokens) > 0 ? u.output_tokens : acc.completion;
      mergeStreamUsage(acc, p, c, num(p) + num(c), u);
    }
    return type === 'message_stop';
  }
  if (protocol === 'openai-responses') {
    if (!wantText && data.indexOf('response.completed') < 0) return false;
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    const type = j?.type ?? event;
    if (type === 'response.output_text.delta' && wantText && typeof j?.delta === 'string') acc.text.push(j.delta);
    if (type === 'response.completed') {
      const u = j?.response?.usage;
      if (u && typeof u === 'object') mergeStreamUsage(acc, u.input_tokens, u.output_tokens, u.total_tokens, u);
      return true;
    }
    return false;
  }
  return false;
}
