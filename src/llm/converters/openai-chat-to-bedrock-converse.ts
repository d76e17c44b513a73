// OpenAI Chat (client protocol) <-> Amazon Bedrock Converse (R-BDR-1,
// switchyard: APISIX 3.18 only passes native Converse requests through).
// Request: system messages → `system`, the others → Converse messages (same
// roles merged, tool calls and results as toolUse/toolResult blocks),
// max_tokens/temperature/top_p/stop → `inferenceConfig`, tools → `toolConfig`.
// Answers come back as OpenAI chat completions; a converse-stream (already
// cut into events by src/llm/aws-eventstream.ts) as OpenAI SSE chunks ending
// with a usage chunk and `data: [DONE]`. Pure: the inputs are not modified.
import { randomUUID } from 'node:crypto';
import type { Reply } from '../../core/types.js';
import type { Converted, Converter, StreamConverter } from './types.js';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (msg: string): Converted => ({ ok: false, reply: { status: 400, kind: 'json', body: { error_msg: msg } } });

/** the text blocks of an OpenAI message content (a string or parts), or an error text */
function textBlocks(content: unknown, at: string): Obj[] | string {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return `${at}.content must be a string or an array`;
  const out: Obj[] = [];
  for (let i = 0; i < content.length; i++) {
    const p = content[i];
    if (isObj(p) && p.type === 'text' && typeof p.text === 'string') out.push({ text: p.text });
    else return `${at}.content[${i}]: unsupported content part type ${isObj(p) ? String(p.type) : typeof p}`;
  }
  return out;
}

function parseArgs(args: unknown): unknown {
  if (typeof args !== 'string' || args === '') return {};
  try { return JSON.parse(args); } catch { return {}; }
}

export function openaiRequestToConverse(body: any): Converted {
  if (!isObj(body) || !Array.isArray(body.messages)) return fail('missing messages');
  const system: Obj[] = [];
  const messages: Obj[] = [];
  const push = (role: 'user' | 'assistant', blocks: Obj[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i];
    const at = `messages[${i}]`;
    if (!isObj(m)) return fail(`${at} must be an object`);
    const blocks = textBlocks(m.content, at);
    if (typeof blocks === 'string') return fail(blocks);
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(...blocks);
        break;
      case 'user':
        push('user', blocks);
        break;
      case 'assistant':
        if (Array.isArray(m.tool_calls)) {
          for (const tc of m.tool_calls) {
            if (isObj(tc) && isObj(tc.function)) blocks.push({ toolUse: { toolUseId: String(tc.id ?? ''), name: String(tc.function.name ?? ''), input: parseArgs(tc.function.arguments) } });
          }
        }
        push('assistant', blocks);
        break;
      case 'tool':
        push('user', [{ toolResult: { toolUseId: String(m.tool_call_id ?? ''), content: blocks.length ? blocks : [{ text: '' }] } }]);
        break;
      default:
        return fail(`${at}: unsupported role ${String(m.role)}`);
    }
  }
  if (messages.length === 0) return fail('no user or assistant messages');
  const out: Obj = { messages };
  if (system.length) out.system = system;
  const ic: Obj = {};
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (typeof maxTokens === 'number') ic.maxTokens = maxTokens;
  if (typeof body.temperature === 'number') ic.temperature = body.temperature;
  if (typeof body.top_p === 'number') ic.topP = body.top_p;
  if (typeof body.stop === 'string') ic.stopSequences = [body.stop];
  else if (Array.isArray(body.stop)) ic.stopSequences = body.stop;
  if (Object.keys(ic).length) out.inferenceConfig = ic;
  if (Array.isArray(body.tools) && body.tools.length) {
    const tools: Obj[] = [];
    for (const t of body.tools) {
      if (!isObj(t) || !isObj(t.function)) continue;
      const spec: Obj = { name: t.function.name, inputSchema: { json: t.function.parameters ?? { type: 'object' } } };
      if (typeof t.function.description === 'string') spec.description = t.function.description;
      tools.push({ toolSpec: spec });
    }
    if (tools.length) out.toolConfig = { tools };
  }
  return { ok: true, body: out };
}

const FINISH: Record<string, string> = {
  end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls',
  content_filtered: 'content_filter', guardrail_intervened: 'content_filter',
};
const finishReason = (r: unknown): string => (typeof r === 'string' ? FINISH[r] ?? 'stop' : 'stop');

function openaiUsage(u: unknown): Obj | undefined {
  if (!isObj(u)) return undefined;
  const p = typeof u.inputTokens === 'number' ? u.inputTokens : 0;
  const c = typeof u.outputTokens === 'number' ? u.outputTokens : 0;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: typeof u.totalTokens === 'number' ? u.totalTokens : p + c };
}

export function converseResponseToOpenai(body: any, model: string): Converted {
  const msg = body?.output?.message;
  if (!isObj(msg) || !Array.isArray(msg.content)) {
    return { ok: false, reply: { status: 500, kind: 'text', body: 'invalid bedrock converse response: no output.message.content' } };
  }
  const texts: string[] = [];
  const toolCalls: Obj[] = [];
  for (const b of msg.content) {
    if (typeof b?.text === 'string') texts.push(b.text);
    else if (isObj(b?.toolUse)) toolCalls.push({ id: b.toolUse.toolUseId, type: 'function', function: { name: b.toolUse.name, arguments: JSON.stringify(b.toolUse.input ?? {}) } });
  }
  const message: Obj = { role: 'assistant', content: texts.length ? texts.join('') : null };
  if (toolCalls.length) message.tool_calls = toolCalls;
  const out: Obj = {
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: finishReason(body.stopReason) }],
  };
  const usage = openaiUsage(body.usage);
  if (usage) out.usage = usage;
  return { ok: true, body: out };
}

export const NO_CONVERSE_OUTPUT = 'bedrock converse-stream ended without producing any output';

/** converse-stream events (name, JSON payload) → OpenAI chat completion chunks */
export class ConverseToOpenaiStream implements StreamConverter {
  private readonly id = `chatcmpl-${randomUUID()}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private produced = false;
  private finished = false;
  /** Converse content block index → OpenAI tool call index */
  private readonly tools = new Map<number, number>();

  constructor(private readonly model: string) {}

  private chunk(choices: Obj[], usage?: Obj): string {
    this.produced = true;
    const c: Obj = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices };
    if (usage) c.usage = usage;
    return `data: ${JSON.stringify(c)}\n\n`;
  }

  push(data: string, event?: string): string {
    if (this.finished) return '';
    let j: any;
    try { j = JSON.parse(data); } catch { return ''; }
    switch (event) {
      case 'messageStart':
        return this.chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
      case 'contentBlockStart': {
        const tu = j?.start?.toolUse;
        if (!isObj(tu)) return '';
        const n = this.tools.size;
        this.tools.set(j.contentBlockIndex, n);
        return this.chunk([{ index: 0, delta: { tool_calls: [{ index: n, id: tu.toolUseId, type: 'function', function: { name: tu.name, arguments: '' } }] }, finish_reason: null }]);
      }
      case 'contentBlockDelta': {
        const d = j?.delta;
        if (typeof d?.text === 'string') return this.chunk([{ index: 0, delta: { content: d.text }, finish_reason: null }]);
        if (typeof d?.toolUse?.input === 'string') {
          const n = this.tools.get(j.contentBlockIndex) ?? 0;
          return this.chunk([{ index: 0, delta: { tool_calls: [{ index: n, function: { arguments: d.toolUse.input } }] }, finish_reason: null }]);
        }
        return '';
      }
      case 'messageStop':
        return this.chunk([{ index: 0, delta: {}, finish_reason: finishReason(j?.stopReason) }]);
      case 'metadata': {
        this.finished = true;
        const usage = openaiUsage(j?.usage);
        return (usage ? this.chunk([], usage) : '') + 'data: [DONE]\n\n';
      }
      default:
        if (typeof event === 'string' && /exception$/i.test(event)) {
          // a modeled stream error (throttlingException, ...): the OpenAI error event
          this.finished = true;
          this.produced = true;
          const message = typeof j?.message === 'string' ? j.message : event;
          return `data: ${JSON.stringify({ error: { message, type: event, code: event } })}\n\n`;
        }
        return '';
    }
  }

  end(): string | Reply {
    if (!this.produced) return { status: 502, kind: 'text', body: NO_CONVERSE_OUTPUT };
    if (this.finished) return '';
    this.finished = true;
    return 'data: [DONE]\n\n';
  }
}

/** registered as ('openai-chat', 'bedrock-converse') in converters/index.ts */
export const openaiChatToBedrockConverse: Converter = {
  from: 'openai-chat',
  to: 'bedrock-converse',
  request: openaiRequestToConverse,
  response: converseResponseToOpenai,
  stream: (model) => new ConverseToOpenaiStream(model),
  streamContentType: 'text/event-stream',
  usageFromClientBody: false,
};
