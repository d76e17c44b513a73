// R-USG-2: when an answer carries no usage (the provider ignores
// `stream_options`, the client disconnected, the stream broke), the usage is
// estimated with the tokenizer (src/llm/tokens.ts): prompt tokens from the
// request, completion tokens from the text relayed so far (content deltas
// and tool-call arguments). Only called after the answer ended without
// usage, so answers that carry their usage never load the tokenizer.
import type { Protocol } from './protocols/index.js';
import type { RequestContext } from '../core/types.js';
import { SseParser } from './sse.js';
import { countTextTokens, promptText } from './tokens.js';

function pushDeltaText(protocol: Protocol, data: string, out: string[]): void {
  if (data === '[DONE]' || data === '') return;
  let j: any;
  try { j = JSON.parse(data); } catch { return; }
  if (!j || typeof j !== 'object') return;
  if (protocol === 'openai-chat') {
    if (!Array.isArray(j.choices)) return;
    for (const c of j.choices) {
      const d = c?.delta;
      if (!d) continue;
      if (typeof d.content === 'string') out.push(d.content);
      if (typeof d.reasoning_content === 'string') out.push(d.reasoning_content);
      if (Array.isArray(d.tool_calls)) {
        for (const tc of d.tool_calls) {
          if (typeof tc?.function?.name === 'string') out.push(tc.function.name);
          if (typeof tc?.function?.arguments === 'string') out.push(tc.function.arguments);
        }
      }
    }
  } else if (protocol === 'anthropic-messages') {
    if (j.type === 'content_block_delta') {
      if (typeof j.delta?.text === 'string') out.push(j.delta.text);
      else if (typeof j.delta?.partial_json === 'string') out.push(j.delta.partial_json);
      else if (typeof j.delta?.thinking === 'string') out.push(j.delta.thinking);
    } else if (j.type === 'content_block_start' && j.content_block?.type === 'tool_use' && typeof j.content_block.name === 'string') {
      out.push(j.content_block.name);
    }
  } else if (protocol === 'openai-responses') {
    if ((j.type === 'response.output_text.delta' || j.type === 'response.function_call_arguments.delta') && typeof j.delta === 'string') out.push(j.delta);
  }
}

/** the completion text of stream chunks in `protocol` as relayed */
export function streamText(protocol: Protocol, chunks: Buffer[]): string {
  const out: string[] = [];
  const p = new SseParser((ev) => pushDeltaText(protocol, ev.data, out));
  for (const c of chunks) p.push(c);
  p.end();
  return out.join('');
}

/** the completion text of a whole JSON answer */
export function bodyText(protocol: Protocol, buf: Buffer): string {
  let j: any;
  try { j = JSON.parse(buf.toString('utf8')); } catch { return ''; }
  const out: string[] = [];
  if (protocol === 'openai-chat' && Array.isArray(j?.choices)) {
    for (const c of j.choices) {
      const m = c?.message;
      if (typeof m?.content === 'string') out.push(m.content);
      if (Array.isArray(m?.tool_calls)) {
        for (const tc of m.tool_calls) {
          if (typeof tc?.function?.name === 'string') out.push(tc.function.name);
          if (typeof tc?.function?.arguments === 'string') out.push(tc.function.arguments);
        }
      }
    }
  } else if (protocol === 'anthropic-messages' && Array.isArray(j?.content)) {
    for (const b of j.content) {
      if (typeof b?.text === 'string') out.push(b.text);
      else if (b?.type === 'tool_use') out.push(String(b.name ?? ''), JSON.stringify(b.input ?? {}));
    }
  } else if (protocol === 'openai-responses' && Array.isArray(j?.output)) {
    for (const o of j.output) {
      if (Array.isArray(o?.content)) for (const c of o.content) if (typeof c?.text === 'string') out.push(c.text);
      if (typeof o?.arguments === 'string') out.push(o.arguments);
    }
  }
  return out.join('');
}

export interface EstimatedUsage {
  prompt: number;
  completion: number;
}

/** R-USG-2: prompt tokens of `requestBody` and completion tokens of `completionText` for `model` */
export async function estimateUsage(model: string | undefined, requestBody: unknown, completionText: string): Promise<EstimatedUsage> {
  const [prompt, completion] = await Promise.all([
    countTextTokens(model, promptText(requestBody)),
    countTextTokens(model, completionText),
  ]);
  return { prompt, completion };
}

/**
 * R-USG-2 for a stream that ended without usage: estimate from the request
 * and the relayed chunks, publish it on ctx.llm (with a raw usage object in
 * OpenAI's shape, so cost_expr and the loggers read it) and mark it
 * `usage_source: estimated`. Runs after the client's answer ended, before
 * the log phase.
 */
export async function applyEstimate(ctx: RequestContext, requestBody: unknown, protocol: Protocol, chunks: Buffer[]): Promise<void> {
  const llm = ctx.llm;
  try {
    const est = await estimateUsage(llm.model || undefined, requestBody, streamText(protocol, chunks));
    llm.promptTokens = est.prompt;
    llm.completionTokens = est.completion;
    llm.totalTokens = est.prompt + est.completion;
    llm.rawUsage = { prompt_tokens: est.prompt, completion_tokens: est.completion, total_tokens: est.prompt + est.completion };
    llm.usageSource = 'estimated';
  } catch (err) {
    ctx.log.error(`estimating token usage failed: ${(err as Error).message}`);
  }
}
