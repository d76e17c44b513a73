// OpenAI Responses (R-REQ-2, R-REQ-24).
import type { LlmProtocol } from './types.js';
import { bodyUsage, mergeStreamUsage, num } from '../usage.js';
import { openaiStreamErrorEvent } from './openai-error-event.js';
import { openaiErrorBody } from './error-bodies.js';

export const openaiResponses: LlmProtocol = {
  name: 'openai-responses',
  matches: (path, b) => path.endsWith('/v1/responses') && 'input' in b,
  isStreaming: (b) => b.stream === true,
  prepareOutgoingRequest: (out) => out,
  extractUsage(body, acc) {
    const u = bodyUsage(body, acc);
    if (u) {
      acc.prompt = num(u.input_tokens);
      acc.completion = num(u.output_tokens);
      acc.total = u.total_tokens !== undefined ? num(u.total_tokens) : acc.prompt + acc.completion;
    }
    if (body && Array.isArray(body.output)) {
      const parts: string[] = [];
      for (const o of body.output) {
        if (o?.type === 'function_call') acc.toolCalls = true;
        if (!Array.isArray(o?.content)) continue;
        for (const c of o.content) if (c?.type === 'output_text' && typeof c.text === 'string') parts.push(c.text);
      }
      if (parts.length) acc.textAtUsage = parts.join(' ');
    }
  },
  deltaText(data, out) {
    let j: any;
    try { j = JSON.parse(data); } catch { return; }
    if ((j?.type === 'response.output_text.delta' || j?.type === 'response.function_call_arguments.delta') && typeof j.delta === 'string') out.push(j.delta);
  },
  answerText(body, out) {
    if (!Array.isArray(body?.output)) return;
    for (const o of body.output) {
      if (Array.isArray(o?.content)) for (const c of o.content) if (typeof c?.text === 'string') out.push(c.text);
      if (typeof o?.arguments === 'string') out.push(o.arguments);
    }
  },
  parseSseEvent(event, data, acc, wantText) {
    const tools = acc.toolCalls !== true && data.indexOf('"function_call"') >= 0;
    if (!wantText && !tools && data.indexOf('response.completed') < 0) return false;
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    const type = j?.type ?? event;
    if (type === 'response.output_item.added' && j?.item?.type === 'function_call') acc.toolCalls = true;
    if (type === 'response.output_text.delta' && wantText && typeof j?.delta === 'string') acc.text.push(j.delta);
    if (type === 'response.completed') {
      const u = j?.response?.usage;
      if (u && typeof u === 'object') mergeStreamUsage(acc, u.input_tokens, u.output_tokens, u.total_tokens, u);
      const out = j?.response?.output;
      if (Array.isArray(out) && out.some((o: any) => o?.type === 'function_call')) acc.toolCalls = true;
      return true;
    }
    return false;
  },
  usageNeedle: Buffer.from('response.completed'),
  toolCallNeedle: Buffer.from('"function_call"'),
  streamErrorEvent: openaiStreamErrorEvent,
  pathHint: (path) => path.endsWith('/v1/responses'),
  errorBody: openaiErrorBody,
};
