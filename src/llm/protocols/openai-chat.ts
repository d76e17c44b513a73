// OpenAI Chat Completions (R-REQ-2, R-RSP-3, R-RSP-12).
import type { LlmProtocol } from './types.js';
import { bodyUsage, mergeStreamUsage, num } from '../usage.js';
import { openaiStreamErrorEvent } from './openai-error-event.js';
import { openaiErrorBody } from './error-bodies.js';

const nonEmpty = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

export const openaiChat: LlmProtocol = {
  name: 'openai-chat',
  matches: (_path, b) => b.messages !== null && typeof b.messages === 'object',
  isStreaming: (b) => b.stream === true,
  prepareOutgoingRequest(out, base) {
    if (out.stream !== true) return out;
    // R-REQ-9: ask for the usage in the stream's last chunk
    if (out === base) out = { ...base };
    out.stream_options = { include_usage: true };
    return out;
  },
  extractUsage(body, acc) {
    const u = bodyUsage(body, acc);
    if (u) {
      acc.prompt = num(u.prompt_tokens);
      acc.completion = num(u.completion_tokens);
      acc.total = u.total_tokens !== undefined ? num(u.total_tokens) : acc.prompt + acc.completion;
    }
    if (body && Array.isArray(body.choices)) {
      const parts: string[] = [];
      for (const c of body.choices) {
        if (typeof c?.message?.content === 'string') parts.push(c.message.content);
        if (c?.finish_reason === 'tool_calls' || nonEmpty(c?.message?.tool_calls)) acc.toolCalls = true;
      }
      if (parts.length) acc.textAtUsage = parts.join(' ');
    }
  },
  usageCounts: {
    keys: ['prompt_tokens', 'completion_tokens', 'total_tokens'],
    read(v, acc) {
      acc.prompt = num(v[0]);
      acc.completion = num(v[1]);
      acc.total = v[2] !== undefined ? num(v[2]) : acc.prompt + acc.completion;
    },
  },
  usageOnlyChunk: true,
  deltaText(data, out) {
    if (data === '[DONE]') return;
    let j: any;
    try { j = JSON.parse(data); } catch { return; }
    if (!Array.isArray(j?.choices)) return;
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
  },
  answerText(body, out) {
    if (!Array.isArray(body?.choices)) return;
    for (const c of body.choices) {
      const m = c?.message;
      if (typeof m?.content === 'string') out.push(m.content);
      if (Array.isArray(m?.tool_calls)) {
        for (const tc of m.tool_calls) {
          if (typeof tc?.function?.name === 'string') out.push(tc.function.name);
          if (typeof tc?.function?.arguments === 'string') out.push(tc.function.arguments);
        }
      }
    }
  },
  parseSseEvent(_event, data, acc, wantText) {
    if (data === '[DONE]') return true;
    const tools = acc.toolCalls !== true && data.indexOf('"tool_calls"') >= 0;
    if (!wantText && !tools && data.indexOf('"usage"') < 0) return false;
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    if ((wantText || tools) && Array.isArray(j?.choices)) {
      for (const c of j.choices) {
        if (wantText && typeof c?.delta?.content === 'string') acc.text.push(c.delta.content);
        if (c?.finish_reason === 'tool_calls' || nonEmpty(c?.delta?.tool_calls)) acc.toolCalls = true;
      }
    }
    const u = j?.usage;
    if (u && typeof u === 'object') mergeStreamUsage(acc, u.prompt_tokens, u.completion_tokens, u.total_tokens, u);
    return false;
  },
  usageNeedle: Buffer.from('"usage"'),
  toolCallNeedle: Buffer.from('"tool_calls"'),
  streamErrorEvent: openaiStreamErrorEvent,
  pathHint: (path) => path.endsWith('/chat/completions'),
  errorBody: openaiErrorBody,
};
