import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, MAX_PENDING, type SseEvent } from '../../src/llm/sse.js';
import { newUsage } from '../../src/llm/usage.js';
import { usageFromBody, usageFromEvent } from '../../src/llm/protocols/index.js';

test('R-RSP-11: events split across chunks at every byte position, CRLF, multi-line data, comments', () => {
  const text = 'event: a\r\ndata: {"x":1}\r\n\r\n: comment\ndata: l1\ndata: l2\n\ndata:nospace\nid: 7\n\n';
  for (let cut = 0; cut <= text.length; cut++) {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    p.push(Buffer.from(text.slice(0, cut)));
    p.push(Buffer.from(text.slice(cut)));
    assert.deepEqual(got.map((e) => [e.event, e.data]), [['a', '{"x":1}'], ['message', 'l1\nl2'], ['message', 'nospace']], `cut ${cut}`);
  }
  const euro = Buffer.from('data: €\n\n');
  const got: string[] = [];
  const p = new SseParser((e) => got.push(e.data));
  for (const b of euro) p.push(Buffer.from([b]));
  assert.deepEqual(got, ['€'], 'multi-byte UTF-8 split across chunks');
});

test('R-RSP-11: an incomplete trailing event beyond 1 MiB is discarded', () => {
  const got: string[] = [];
  const p = new SseParser((e) => got.push(e.data));
  p.push('data: ' + 'x'.repeat(MAX_PENDING + 10));
  p.push('\n\ndata: ok\n\n');
  assert.deepEqual(got, ['ok']);
});

test('R-RSP-12/R-RSP-14: openai-chat stream usage, null usage ignored, text up to usage', () => {
  const acc = newUsage();
  const ev = (d: unknown) => usageFromEvent('openai-chat', 'message', typeof d === 'string' ? d : JSON.stringify(d), acc, true);
  ev({ choices: [{ delta: { content: 'Hel' } }], usage: null });
  ev({ choices: [{ delta: { content: 'lo' } }] });
  ev({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } });
  assert.equal(ev('[DONE]'), true);
  assert.deepEqual([acc.prompt, acc.completion, acc.total, acc.seen, acc.textAtUsage], [5, 2, 7, true, 'Hello']);
});

test('R-REQ-23: anthropic stream usage from message_start and message_delta', () => {
  const acc = newUsage();
  usageFromEvent('anthropic-messages', 'message_start', JSON.stringify({ type: 'message_start', message: { usage: { input_tokens: 12, output_tokens: 1 } } }), acc, false);
  usageFromEvent('anthropic-messages', 'message_delta', JSON.stringify({ type: 'message_delta', usage: { output_tokens: 9 } }), acc, false);
  assert.deepEqual([acc.prompt, acc.completion, acc.total], [12, 9, 21]);
});

test('R-REQ-24: openai-responses usage from response.completed and from the body', () => {
  const acc = newUsage();
  usageFromEvent('openai-responses', 'response.completed', JSON.stringify({ type: 'response.completed', response: { usage: { input_tokens: 3, output_tokens: 4, total_tokens: 7 } } }), acc, false);
  assert.deepEqual([acc.prompt, acc.completion, acc.total], [3, 4, 7]);
  const b = newUsage();
  usageFromBody('openai-responses', { output: [{ content: [{ type: 'output_text', text: 'hi' }] }], usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 } }, b);
  assert.deepEqual([b.prompt, b.completion, b.total, b.textAtUsage], [1, 2, 3, 'hi']);
});

test('R-RSP-3: non-stream usage per protocol; missing fields 0; null usage', () => {
  const a = newUsage();
  usageFromBody('openai-chat', { choices: [{ message: { content: 'a' } }, { message: { content: 'b' } }], usage: { prompt_tokens: 2, completion_tokens: 3 } }, a);
  assert.deepEqual([a.prompt, a.completion, a.total, a.textAtUsage], [2, 3, 5, 'a b']);
  const e = newUsage();
  usageFromBody('openai-embeddings', { usage: { prompt_tokens: 2, total_tokens: 2 } }, e);
  assert.deepEqual([e.prompt, e.completion, e.total], [2, 0, 2]);
  const n = newUsage();
  usageFromBody('openai-chat', { usage: null }, n);
  assert.deepEqual([n.prompt, n.seen], [0, false]);
  const an = newUsage();
  usageFromBody('anthropic-messages', { content: [{ type: 'text', text: 'x' }], usage: { input_tokens: 4, output_tokens: 6 } }, an);
  assert.deepEqual([an.prompt, an.completion, an.total, an.textAtUsage], [4, 6, 10, 'x']);
});
