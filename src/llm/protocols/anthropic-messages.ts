// Anthropic Messages (R-REQ-2, R-REQ-23).
import type { LlmProtocol } from './types.js';
import { bodyUsage, mergeStreamUsage, num } from '../usage.js';
import { anthropicErrorBody } from './error-bodies.js';

export const anthropicMessages: LlmProtocol = {
  name: 'anthropic-messages',
  matches: (path) => path.endsWith('/v1/messages'),
  isStreaming: (b) => b.stream === true,
  prepareOutgoingRequest: (out) => out,
  extractUsage(body, acc) {
    const u = bodyUsage(body, acc);
    if (u) {
      acc.prompt = num(u.input_tokens);
      acc.completion = num(u.output_tokens);
      acc.total = acc.prompt + acc.completion;
    }
    if (body && Array.isArray(body.content)) {
      const parts: string[] = [];
      for (const b of body.content) {
        if (b?.type === 'text' && typeof b.text === 'string') parts.push(b.text);
        else if (b?.type === 'tool_use') acc.toolCalls = true;
      }
      if (parts.length) acc.textAtUsage = parts.join(' ');
    }
    if (body?.stop_reason === 'tool_use') acc.toolCalls = true;
  },
  deltaText(data, out) {
    let j: any;
    try { j = JSON.parse(data); } catch { return; }
    if (j?.type === 'content_block_delta') {
      if (typeof j.delta?.text === 'string') out.push(j.delta.text);
      else if (typeof j.delta?.partial_json === 'string') out.push(j.delta.partial_json);
      else if (typeof j.delta?.thinking === 'string') out.push(j.delta.thinking);
    } else if (j?.type === 'content_block_start' && j.content_block?.type === 'tool_use' && typeof j.content_block.name === 'string') {
      out.push(j.content_block.name);
    }
  },
  answerText(body, out) {
    if (!Array.isArray(body?.content)) return;
    for (const b of body.content) {
      if (typeof b?.text === 'string') out.push(b.text);
      else if (b?.type === 'tool_use') out.push(String(b.name ?? ''), JSON.stringify(b.input ?? {}));
    }
  },
  parseSseEvent(event, data, acc, wantText) {
    const tools = acc.toolCalls !== true && data.indexOf('"tool_use"') >= 0;
    if (!wantText && !tools && data.indexOf('usage') < 0) return event === 'message_stop';
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    const type = j?.type ?? event;
    if (type === 'content_block_start' && j?.content_block?.type === 'tool_use') acc.toolCalls = true;
    if (type === 'content_block_delta' && wantText && typeof j?.delta?.text === 'string') acc.text.push(j.delta.text);
    // the message_delta that carries the final usage also carries the stop reason
    if (type === 'message_delta' && j?.delta?.stop_reason === 'tool_use') acc.toolCalls = true;
    const u = type === 'message_start' ? j?.message?.usage : type === 'message_delta' ? j?.usage : undefined;
    if (u && typeof u === 'object') {
      const p = num(u.input_tokens) > 0 ? u.input_tokens : acc.prompt;
      const c = num(u.output_tokens) > 0 ? u.output_tokens : acc.completion;
      mergeStreamUsage(acc, p, c, num(p) + num(c), u);
    }
    return type === 'message_stop';
  },
  // R-STR-2: the SDK raises on an `error` event
  toolCallNeedle: Buffer.from('"tool_use"'),
  streamErrorEvent: (_code, message) =>
    `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`,
  pathHint: (path) => path.endsWith('/v1/messages'),
  errorBody: anthropicErrorBody,
};
