// Anthropic Messages (client protocol) <-> OpenAI Chat (provider protocol):
// request conversion (R-REQ-20), response conversion (R-REQ-21) and the
// streaming converter (R-REQ-22). Pure functions: the inputs are not modified.
import type { Reply } from '../../core/types.js';
import type { Converted, Converter } from './types.js';

export type { Converted } from './types.js';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (status: number, kind: 'json' | 'text', msg: string): Converted => ({
  ok: false,
  reply: kind === 'json' ? { status, kind, body: { error_msg: msg } } : { status, kind, body: msg },
});

/** R-REQ-21: OpenAI finish_reason → Anthropic stop_reason */
export function mapStopReason(finish: unknown): string {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'stop':
    case 'content_filter':
    default:
      return 'end_turn';
  }
}

/** R-REQ-20: client anthropic body -> openai-chat body (the input is not modified) */
export function anthropicRequestToOpenai(body: any): Converted {
  const invalid = (msg: string) => bad(400, 'json', msg);
  if (!isObj(body) || !Array.isArray(body.messages) || body.messages.length === 0) return invalid('missing messages');
  const out: Obj = { ...body };
  const messages: Obj[] = [];

  // system prompt: a string, or text blocks concatenated
  if ('system' in body) {
    let system = '';
    if (typeof body.system === 'string') system = body.system;
    else if (Array.isArray(body.system)) {
      for (const b of body.system) if (isObj(b) && b.type === 'text' && typeof b.text === 'string') system += b.text;
    }
    if (system !== '') messages.push({ role: 'system', content: system });
    delete out.system;
  }

  for (let i = 0; i < body.messages.length; i++) {
    const msg = body.messages[i];
    const n = i + 1;
    if (!isObj(msg) || typeof msg.role !== 'string') return invalid(`invalid message at index ${n}`);
    if (typeof msg.content === 'string') {
      messages.push({ role: msg.role, content: msg.content });
      continue;
    }
    if (!Array.isArray(msg.content)) return invalid(`invalid message content at index ${n}`);
    let text = '';
    const toolCalls: Obj[] = [];
    const toolResults: Obj[] = [];
    for (const block of msg.content) {
      if (!isObj(block)) continue;
      if (block.type === 'text' && typeof block.text === 'string') {
        text += block.text;
      } else if (block.type === 'tool_use') {
        if (typeof block.id === 'string' && typeof block.name === 'string') {
          toolCalls.push({
            id: block.id,
            type: 'function',
            function: { name: block.name, arguments: JSON.stringify(block.input === undefined ? {} : block.input) },
          });
        }
      } else if (block.type === 'tool_result') {
        if (typeof block.tool_use_id === 'string') {
          const c = block.content;
          toolResults.push({
            role: 'tool',
            tool_call_id: block.tool_use_id,
            content: typeof c === 'object' && c !== null ? JSON.stringify(c) : c === undefined || c === null ? '' : String(c),
          });
        }
      }
    }
    const converted: Obj = { role: msg.role };
    if (toolCalls.length) {
      if (text !== '') converted.content = text;
      converted.tool_calls = toolCalls;
    } else {
      converted.content = text;
    }
    if (toolResults.length) {
      // the text (and tool calls) of the message first, then one message per result
      if (text !== '' || toolCalls.length) messages.push(converted);
      messages.push(...toolResults);
      continue;
    }
    messages.push(converted);
  }
  out.messages = messages;

  if (Array.isArray(body.tools)) {
    const tools: Obj[] = [];
    for (let i = 0; i < body.tools.length; i++) {
      const tool = body.tools[i];
      if (!isObj(tool) || typeof tool.name !== 'string' || tool.name === '') {
        return invalid(`invalid tool definition at index ${i + 1}`);
      }
      const fn: Obj = { name: tool.name };
      if (tool.description !== undefined) fn.description = tool.description;
      if (tool.input_schema !== undefined) fn.parameters = tool.input_schema;
      tools.push({ type: 'function', function: fn });
    }
    out.tools = tools;
  }

  if (out.max_tokens !== undefined && out.max_tokens !== null && out.max_tokens !== false) {
    out.max_completion_tokens = out.max_tokens;
  }
  if (out.stop_sequences !== undefined && out.stop_sequences !== null) {
    out.stop = out.stop_sequences;
    delete out.stop_sequences;
  }
  return { ok: true, body: out };
}

/** R-REQ-21: openai non-stream response body -> anthropic message body */
export function openaiResponseToAnthropic(body: any, model: string): Converted {
  const choice = isObj(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isObj(choice)) return bad(500, 'text', 'no choices in response');
  const message = isObj(choice.message) ? choice.message : {};
  const content: Obj[] = [];
  if (typeof message.content === 'string' && message.content !== '') content.push({ type: 'text', text: message.content });
  if (Array.isArray(message.tool_calls)) {
    for (const tc of message.tool_calls) {
      if (!isObj(tc)) continue;
      const fn = isObj(tc.function) ? tc.function : undefined;
      let input: unknown = {};
      if (fn && typeof fn.arguments === 'string') {
        try {
          input = JSON.parse(fn.arguments);
        } catch (err) {
          return bad(500, 'text', `invalid tool_call arguments: ${(err as Error).message}`);
        }
      }
      content.push({ type: 'tool_use', id: tc.id ?? '', name: (fn && fn.name) || '', input });
    }
  }
  if (!content.length) content.push({ type: 'text', text: '' });
  const usage = isObj(body.usage) ? body.usage : undefined;
  const out: Obj = {
    id: body.id,
    type: 'message',
    role: 'assistant',
    model: model || body.model,
    content,
    stop_reason: mapStopReason(choice.finish_reason),
    usage: {
      input_tokens: usage?.prompt_tokens ?? 0,
      output_tokens: usage?.completion_tokens ?? 0,
    },
  };
  if (usage && isObj(usage.prompt_tokens_details)) {
    out.usage.cache_read_input_tokens = usage.prompt_tokens_details.cached_tokens ?? 0;
  }
  return { ok: true, body: out };
}

export const NO_STREAM_OUTPUT =
  'streaming response completed without producing any output; the upstream likely returned a different SSE format than the converter expects';

const sse = (type: string, data: unknown): string => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;

/** R-REQ-22: converts an openai-chat SSE stream into anthropic events */
export class OpenaiToAnthropicStream {
  private started = false;
  private done = false;
  private produced = false;
  private stopped = false;
  private pendingDelta: Obj | undefined;
  private contentIndex = 0;
  private openBlock: number | undefined;
  private readonly toolBlocks = new Map<unknown, number>();

  constructor(readonly model: string) {}

  /** feed one parsed SSE event's data; returns the bytes to send to the client (maybe "") */
  push(data: string): string {
    if (this.stopped) return '';
    const trimmed = data.trim();
    if (trimmed === '[DONE]') return this.emit(this.flush(undefined));
    let chunk: unknown;
    try {
      chunk = JSON.parse(trimmed);
    } catch {
      return '';
    }
    if (!isObj(chunk)) return '';
    if (this.done) return this.emit(this.flush(chunk));

    let out = '';
    const choice = Array.isArray(chunk.choices) && isObj(chunk.choices[0]) ? chunk.choices[0] : undefined;
    const delta = choice && isObj(choice.delta) ? choice.delta : undefined;

    if (!this.started) {
      this.started = true;
      out += sse('message_start', {
        type: 'message_start',
        message: {
          id: chunk.id,
          type: 'message',
          role: 'assistant',
          model: this.model || chunk.model,
          content: [],
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      });
      out += sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
      this.openBlock = 0;
    }

    if (delta && typeof delta.content === 'string' && delta.content !== '') {
      out += sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: delta.content } });
    }

    if (delta && Array.isArray(delta.tool_calls)) {
      for (const tc of delta.tool_calls) {
        if (!isObj(tc) || tc.index === undefined || tc.index === null) continue;
        const fn = isObj(tc.function) ? tc.function : {};
        let idx = this.toolBlocks.get(tc.index);
        if (idx === undefined) {
          if (this.openBlock !== undefined) out += sse('content_block_stop', { type: 'content_block_stop', index: this.openBlock });
          idx = ++this.contentIndex;
          this.toolBlocks.set(tc.index, idx);
          this.openBlock = idx;
          out += sse('content_block_start', {
            type: 'content_block_start',
            index: idx,
            content_block: { type: 'tool_use', id: tc.id ?? '', name: fn.name ?? '', input: {} },
          });
        }
        if (typeof fn.arguments === 'string' && fn.arguments !== '') {
          out += sse('content_block_delta', {
            type: 'content_block_delta',
            index: idx,
            delta: { type: 'input_json_delta', partial_json: fn.arguments },
          });
        }
      }
    }

    if (choice && typeof choice.finish_reason === 'string') {
      if (this.openBlock !== undefined) {
        out += sse('content_block_stop', { type: 'content_block_stop', index: this.openBlock });
        this.openBlock = undefined;
      }
      const md: Obj = { type: 'message_delta', delta: { stop_reason: mapStopReason(choice.finish_reason) } };
      if (isObj(chunk.usage)) md.usage = usageOf(chunk.usage);
      this.pendingDelta = md;
      this.done = true;
    }
    return this.emit(out);
  }

  /** end of the upstream stream; returns the final bytes, or a Reply (502) when nothing was produced */
  end(): string | Reply {
    const out = this.emit(this.flush(undefined));
    if (!this.produced) return { status: 502, kind: 'text', body: NO_STREAM_OUTPUT };
    return out;
  }

  /** true once message_stop was emitted */
  get finished(): boolean {
    return this.stopped;
  }

  private flush(chunk: Obj | undefined): string {
    if (!this.pendingDelta) return '';
    const md = this.pendingDelta;
    this.pendingDelta = undefined;
    if (chunk && isObj(chunk.usage) && !md.usage) md.usage = usageOf(chunk.usage);
    // Anthropic's own stream always carries usage here and its SDKs read
    // `usage.output_tokens` unconditionally: zeros when the upstream sent none
    if (!md.usage) md.usage = { input_tokens: 0, output_tokens: 0 };
    this.stopped = true;
    return sse('message_delta', md) + sse('message_stop', { type: 'message_stop' });
  }

  private emit(s: string): string {
    if (s) this.produced = true;
    return s;
  }
}

function usageOf(u: Obj): Obj {
  return { input_tokens: u.prompt_tokens ?? 0, output_tokens: u.completion_tokens ?? 0 };
}

/** registered as ('anthropic-messages', 'openai-chat') in converters/index.ts */
export const anthropicMessagesToOpenaiChat: Converter = {
  from: 'anthropic-messages',
  to: 'openai-chat',
  request: anthropicRequestToOpenai,
  response: openaiResponseToAnthropic,
  stream: (model) => new OpenaiToAnthropicStream(model),
  streamContentType: 'text/event-stream',
  usageFromClientBody: false,
};
