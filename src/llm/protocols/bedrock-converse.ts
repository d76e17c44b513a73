// Amazon Bedrock Converse (R-BDR-1), after APISIX 3.18's ai-protocols:
// a client request is a body with `messages` sent to a path ending in
// `/converse`; `stream: true` is the gateway-side opt-in for
// `/converse-stream`, whose AWS event-stream frames reach parseSseEvent as
// (event type, JSON payload) pairs (src/llm/aws-eventstream.ts).
import type { LlmProtocol } from './types.js';
import { bodyUsage, mergeStreamUsage, num } from '../usage.js';

/** OpenAI-style members an instance's `options` may set, moved into Converse's inferenceConfig */
const INFERENCE: ReadonlyArray<[string, string]> = [['max_tokens', 'maxTokens'], ['temperature', 'temperature'], ['top_p', 'topP'], ['stop', 'stopSequences']];

export const bedrockConverse: LlmProtocol = {
  name: 'bedrock-converse',
  matches: (path, b) => path.endsWith('/converse') && b.messages !== null && typeof b.messages === 'object',
  isStreaming: (b) => b.stream === true,
  prepareOutgoingRequest(out, base) {
    // Bedrock rejects unknown members: `stream` is decided by the path
    let moved = false;
    for (const [from] of INFERENCE) if (from in out) moved = true;
    if (!moved && !('stream' in out)) return out;
    if (out === base) out = { ...base };
    delete out.stream;
    if (moved) {
      const ic: Record<string, unknown> = { ...(out.inferenceConfig as Record<string, unknown> | undefined) };
      for (const [from, to] of INFERENCE) {
        if (!(from in out)) continue;
        const v = out[from];
        ic[to] = to === 'stopSequences' && typeof v === 'string' ? [v] : v;
        delete out[from];
      }
      out.inferenceConfig = ic;
    }
    return out;
  },
  extractUsage(body, acc) {
    const u = bodyUsage(body, acc);
    if (u) {
      acc.prompt = num(u.inputTokens);
      acc.completion = num(u.outputTokens);
      acc.total = u.totalTokens !== undefined ? num(u.totalTokens) : acc.prompt + acc.completion;
    }
    const content = body?.output?.message?.content;
    if (Array.isArray(content)) {
      const parts: string[] = [];
      for (const c of content) if (typeof c?.text === 'string') parts.push(c.text);
      if (parts.length) acc.textAtUsage = parts.join(' ');
    }
  },
  deltaText(data, out) {
    let j: any;
    try { j = JSON.parse(data); } catch { return; }
    const d = j?.delta;
    if (typeof d?.text === 'string') out.push(d.text);
    else if (typeof d?.toolUse?.input === 'string') out.push(d.toolUse.input);
  },
  answerText(body, out) {
    const content = body?.output?.message?.content;
    if (!Array.isArray(content)) return;
    for (const c of content) {
      if (typeof c?.text === 'string') out.push(c.text);
      else if (c?.toolUse) out.push(String(c.toolUse.name ?? ''), JSON.stringify(c.toolUse.input ?? {}));
    }
  },
  parseSseEvent(event, data, acc, wantText) {
    if (event === 'contentBlockDelta') {
      if (!wantText) return false;
      let j: any;
      try { j = JSON.parse(data); } catch { return false; }
      if (typeof j?.delta?.text === 'string') acc.text.push(j.delta.text);
      return false;
    }
    if (event !== 'metadata') return false;
    let j: any;
    try { j = JSON.parse(data); } catch { return false; }
    const u = j?.usage;
    if (u && typeof u === 'object') mergeStreamUsage(acc, u.inputTokens, u.outputTokens, u.totalTokens ?? num(u.inputTokens) + num(u.outputTokens), u);
    return true;
  },
  // the binary framing has no text error event: the stream just ends (R-STR-2)
  streamErrorEvent: () => '',
  pathHint: (path) => path.endsWith('/converse'),
  // Bedrock's own errors are `{"message": ...}`
  errorBody: (_status, message) => ({ error_msg: message, message }),
};
