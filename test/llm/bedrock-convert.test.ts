// R-BDR-1 units: the AWS event-stream framing (split and corrupted frames)
// and the OpenAI chat <-> Converse conversion (tools, roles, stop reasons).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { AwsEventStreamParser } from '../../src/llm/aws-eventstream.js';
import { openaiRequestToConverse, converseResponseToOpenai, ConverseToOpenaiStream } from '../../src/llm/converters/openai-chat-to-bedrock-converse.js';
import { getProtocol } from '../../src/llm/protocols/index.js';

const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => Buffer.from(s, 'utf8'));
const frame = (eventType: string, payload: unknown) => Buffer.from(codec.encode({
  headers: { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: eventType } },
  body: Buffer.from(JSON.stringify(payload)),
}));

test('R-BDR-1 event-stream messages split into single bytes come out whole and in order', () => {
  const bytes = Buffer.concat([frame('messageStart', { role: 'assistant' }), frame('contentBlockDelta', { delta: { text: 'hé' } }), frame('metadata', { usage: { inputTokens: 1 } })]);
  const events: string[] = [];
  const p = new AwsEventStreamParser((e) => events.push(`${e.event} ${e.data}`));
  for (let i = 0; i < bytes.length; i++) p.push(bytes.subarray(i, i + 1));
  p.end();
  assert.deepEqual(events, ['messageStart {"role":"assistant"}', 'contentBlockDelta {"delta":{"text":"hé"}}', 'metadata {"usage":{"inputTokens":1}}']);
});

test('R-BDR-1 a corrupted event-stream message stops the parsing with a framing error', () => {
  const a = frame('messageStart', { role: 'assistant' });
  const b = frame('contentBlockDelta', { delta: { text: 'x' } });
  b[b.length - 6] ^= 0xff; // payload byte: the message CRC no longer matches
  const events: string[] = [];
  const errors: string[] = [];
  const p = new AwsEventStreamParser((e) => events.push(e.event), (err) => errors.push(err.message));
  p.push(Buffer.concat([a, b, frame('messageStop', {})]));
  assert.deepEqual(events, ['messageStart']);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /invalid event-stream message/);
  const truncated = new AwsEventStreamParser(() => {}, (err) => errors.push(err.message));
  truncated.push(a.subarray(0, 20));
  truncated.end();
  assert.match(errors[1]!, /ended inside a message/);
});

test('R-BDR-1 OpenAI chat with tools and tool results becomes Converse; the answer comes back with tool_calls', () => {
  const body = {
    model: 'x', stream: true, max_completion_tokens: 5, stop: ['a', 'b'],
    messages: [
      { role: 'system', content: 'sys' },
      { role: 'developer', content: [{ type: 'text', text: 'dev' }] },
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'get', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 't1', content: 'sunny' },
      { role: 'user', content: 'thanks' },
    ],
    tools: [{ type: 'function', function: { name: 'get', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  };
  const copy = structuredClone(body);
  const r = openaiRequestToConverse(body);
  assert.ok(r.ok);
  assert.deepEqual(body, copy, 'input not modified');
  assert.deepEqual(r.body, {
    system: [{ text: 'sys' }, { text: 'dev' }],
    messages: [
      { role: 'user', content: [{ text: 'weather?' }] },
      { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'get', input: { city: 'Paris' } } }] },
      { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'sunny' }] } }, { text: 'thanks' }] },
    ],
    inferenceConfig: { maxTokens: 5, stopSequences: ['a', 'b'] },
    toolConfig: { tools: [{ toolSpec: { name: 'get', description: 'Weather', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } } } }] },
  });
  const bad = openaiRequestToConverse({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] });
  assert.equal(bad.ok, false);
  assert.match(JSON.stringify((bad as any).reply.body), /messages\[0\]\.content\[0\]: unsupported content part type image_url/);

  const a = converseResponseToOpenai({ output: { message: { role: 'assistant', content: [{ text: 'ok' }, { toolUse: { toolUseId: 't2', name: 'get', input: { city: 'Rome' } } }] } }, stopReason: 'tool_use', usage: { inputTokens: 3, outputTokens: 4 } }, 'm');
  assert.ok(a.ok);
  assert.equal(a.body.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(a.body.choices[0].message.tool_calls, [{ id: 't2', type: 'function', function: { name: 'get', arguments: '{"city":"Rome"}' } }]);
  assert.deepEqual(a.body.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
});

test('R-BDR-1 a converse-stream becomes OpenAI chunks: tool call deltas, finish reason, usage, [DONE]; an exception becomes an error event', () => {
  const c = new ConverseToOpenaiStream('m');
  const out = [
    c.push('{"role":"assistant"}', 'messageStart'),
    c.push('{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"get"}}}', 'contentBlockStart'),
    c.push('{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\\"a\\":1}"}}}', 'contentBlockDelta'),
    c.push('{"stopReason":"max_tokens"}', 'messageStop'),
    c.push('{"usage":{"inputTokens":2,"outputTokens":3,"totalTokens":5}}', 'metadata'),
  ].join('');
  const datas = out.split('\n\n').filter(Boolean).map((l) => l.replace(/^data: /, ''));
  assert.equal(datas.at(-1), '[DONE]');
  const chunks = datas.slice(0, -1).map((d) => JSON.parse(d));
  assert.deepEqual(chunks[1].choices[0].delta.tool_calls, [{ index: 0, id: 't1', type: 'function', function: { name: 'get', arguments: '' } }]);
  assert.equal(chunks[2].choices[0].delta.tool_calls[0].function.arguments, '{"a":1}');
  assert.equal(chunks[3].choices[0].finish_reason, 'length');
  assert.deepEqual(chunks[4].usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  assert.equal(c.end(), '');

  const e = new ConverseToOpenaiStream('m');
  e.push('{"role":"assistant"}', 'messageStart');
  const err = e.push('{"message":"slow down"}', 'throttlingException');
  assert.deepEqual(JSON.parse(err.slice(6)), { error: { message: 'slow down', type: 'throttlingException', code: 'throttlingException' } });
  assert.deepEqual(new ConverseToOpenaiStream('m').end(), { status: 502, kind: 'text', body: 'bedrock converse-stream ended without producing any output' });
});

test('R-BDR-1 the bedrock-converse protocol: detection before openai-chat, options moved into inferenceConfig, usage', () => {
  const p = getProtocol('bedrock-converse');
  assert.equal(p.matches!('/model/x/converse', { messages: [] }), true);
  assert.equal(p.matches!('/v1/chat/completions', { messages: [] }), false);
  const base = { messages: [], stream: true, inferenceConfig: { topP: 1 } };
  const out = p.prepareOutgoingRequest({ ...base, max_tokens: 9, stop: 'x' }, base);
  assert.deepEqual(out, { messages: [], inferenceConfig: { topP: 1, maxTokens: 9, stopSequences: ['x'] } });
  assert.deepEqual(base, { messages: [], stream: true, inferenceConfig: { topP: 1 } });
  const acc: any = { prompt: 0, completion: 0, total: 0, seen: false, text: [] };
  p.extractUsage({ usage: { inputTokens: 4, outputTokens: 6 } }, acc);
  assert.deepEqual([acc.prompt, acc.completion, acc.total], [4, 6, 10]);
});
