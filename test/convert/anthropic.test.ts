// Anthropic Messages <-> OpenAI Chat converters (R-REQ-20, R-REQ-21, R-REQ-22).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anthropicRequestToOpenai,
  openaiResponseToAnthropic,
  OpenaiToAnthropicStream,
  mapStopReason,
} from '../../src/llm/converters/anthropic-messages-to-openai-chat.js';

const ok = (r: ReturnType<typeof anthropicRequestToOpenai>) => {
  assert.equal(r.ok, true, JSON.stringify(r));
  return (r as { ok: true; body: any }).body;
};
const err = (r: ReturnType<typeof anthropicRequestToOpenai>) => {
  assert.equal(r.ok, false);
  return (r as { ok: false; reply: any }).reply;
};

test('R-REQ-20 messages validation errors (400 JSON error bodies)', () => {
  for (const body of [{}, { messages: [] }, { messages: 'x' }, { messages: {} }, null, []]) {
    assert.deepEqual(err(anthropicRequestToOpenai(body)), { status: 400, kind: 'json', body: { error_msg: 'missing messages' } });
  }
  assert.deepEqual(err(anthropicRequestToOpenai({ messages: [{ role: 'user', content: 'a' }, 'x'] })).body, { error_msg: 'invalid message at index 2' });
  assert.deepEqual(err(anthropicRequestToOpenai({ messages: [{ content: 'a' }] })).body, { error_msg: 'invalid message at index 1' });
  assert.deepEqual(err(anthropicRequestToOpenai({ messages: [{ role: 1, content: 'a' }] })).body, { error_msg: 'invalid message at index 1' });
  for (const content of [5, null, undefined, { type: 'text' }, true]) {
    assert.deepEqual(err(anthropicRequestToOpenai({ messages: [{ role: 'user', content: 'ok' }, { role: 'user', content }] })).body, { error_msg: 'invalid message content at index 2' });
  }
  for (const tools of [[{ name: '' }], [{ description: 'x' }], ['t'], [{ name: 5 }]]) {
    const r = err(anthropicRequestToOpenai({ messages: [{ role: 'user', content: 'a' }], tools }));
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error_msg: 'invalid tool definition at index 1' });
  }
  assert.deepEqual(
    err(anthropicRequestToOpenai({ messages: [{ role: 'user', content: 'a' }], tools: [{ name: 'ok' }, { name: '' }] })).body,
    { error_msg: 'invalid tool definition at index 2' },
  );
});

test('R-REQ-20 system prompt, text blocks, parameters; the input is not modified', () => {
  const input = {
    model: 'claude-x',
    system: 'be brief',
    max_tokens: 100,
    stop_sequences: ['END'],
    temperature: 0.2,
    stream: false,
    messages: [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'image', source: {} }, 'junk', { type: 'text', text: 'b' }] },
      { role: 'user', content: [] },
    ],
  };
  const copy = structuredClone(input);
  const out = ok(anthropicRequestToOpenai(input));
  assert.deepEqual(input, copy, 'input unchanged');
  assert.deepEqual(out, {
    model: 'claude-x',
    max_tokens: 100,
    max_completion_tokens: 100,
    stop: ['END'],
    temperature: 0.2,
    stream: false,
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'ab' },
      { role: 'user', content: '' },
    ],
  });
  // system as text blocks, concatenated; empty system adds no message but is removed
  const b = ok(anthropicRequestToOpenai({ system: [{ type: 'text', text: 'x' }, { type: 'other', text: 'no' }, { type: 'text', text: 'y' }], messages: [{ role: 'user', content: 'q' }] }));
  assert.deepEqual(b.messages[0], { role: 'system', content: 'xy' });
  const c = ok(anthropicRequestToOpenai({ system: '', messages: [{ role: 'user', content: 'q' }] }));
  assert.equal('system' in c, false);
  assert.deepEqual(c.messages, [{ role: 'user', content: 'q' }]);
  assert.equal('max_completion_tokens' in c, false);
  assert.equal('stop' in c, false);
});

test('R-REQ-20 tool_use blocks become tool_calls, tool_result blocks become tool messages, tools are converted', () => {
  const out = ok(anthropicRequestToOpenai({
    messages: [
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'tu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'tu_2', name: 'noargs' },
          { type: 'tool_use', name: 'missing-id' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'calling' }, { type: 'tool_use', id: 'tu_3', name: 'f', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'results:' },
          { type: 'tool_result', tool_use_id: 'tu_1', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'tu_2', content: [{ type: 'text', text: 'x' }] },
          { type: 'tool_result', tool_use_id: 'tu_3' },
          { type: 'tool_result', content: 'no id' },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_9', content: 42 }] },
    ],
    tools: [
      { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
      { name: 'bare' },
    ],
  }));
  assert.deepEqual(out.messages, [
    { role: 'user', content: 'weather?' },
    {
      role: 'assistant',
      tool_calls: [
        { id: 'tu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'tu_2', type: 'function', function: { name: 'noargs', arguments: '{}' } },
      ],
    },
    { role: 'assistant', content: 'calling', tool_calls: [{ id: 'tu_3', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    { role: 'user', content: 'results:' },
    { role: 'tool', tool_call_id: 'tu_1', content: 'sunny' },
    { role: 'tool', tool_call_id: 'tu_2', content: '[{"type":"text","text":"x"}]' },
    { role: 'tool', tool_call_id: 'tu_3', content: '' },
    { role: 'tool', tool_call_id: 'tu_9', content: '42' },
  ]);
  assert.equal('content' in out.messages[1], false, 'content absent when a tool_use message has no text');
  assert.deepEqual(out.tools, [
    { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    { type: 'function', function: { name: 'bare' } },
  ]);
});

test('R-REQ-21 response conversion: text, tool_use, stop_reason map, usage, model', () => {
  const res = {
    id: 'chatcmpl-1',
    model: 'gpt-4o-2024',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Hi there' } }],
    usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
  };
  assert.deepEqual(ok(openaiResponseToAnthropic(res, 'gpt-4o')), {
    id: 'chatcmpl-1', type: 'message', role: 'assistant', model: 'gpt-4o',
    content: [{ type: 'text', text: 'Hi there' }],
    stop_reason: 'end_turn',
    usage: { input_tokens: 12, output_tokens: 3 },
  });
  assert.equal(ok(openaiResponseToAnthropic(res, '')).model, 'gpt-4o-2024', "the response's model when there is no effective model");

  const tools = ok(openaiResponseToAnthropic({
    id: 'c2',
    choices: [{
      finish_reason: 'tool_calls',
      message: {
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'noargs' } },
        ],
      },
    }],
    usage: { prompt_tokens: 5, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 4 } },
  }, 'm'));
  assert.deepEqual(tools.content, [
    { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    { type: 'tool_use', id: 'call_2', name: 'noargs', input: {} },
  ]);
  assert.equal(tools.stop_reason, 'tool_use');
  assert.deepEqual(tools.usage, { input_tokens: 5, output_tokens: 7, cache_read_input_tokens: 4 });

  const empty = ok(openaiResponseToAnthropic({ choices: [{ message: { content: '' }, finish_reason: 'length' }] }, 'm'));
  assert.deepEqual(empty.content, [{ type: 'text', text: '' }]);
  assert.equal(empty.stop_reason, 'max_tokens');
  assert.deepEqual(empty.usage, { input_tokens: 0, output_tokens: 0 });
  const cached0 = ok(openaiResponseToAnthropic({ choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 1, completion_tokens: 1, prompt_tokens_details: {} } }, 'm'));
  assert.equal(cached0.usage.cache_read_input_tokens, 0);

  assert.equal(mapStopReason('stop'), 'end_turn');
  assert.equal(mapStopReason('length'), 'max_tokens');
  assert.equal(mapStopReason('content_filter'), 'end_turn');
  assert.equal(mapStopReason('tool_calls'), 'tool_use');
  assert.equal(mapStopReason('function_call'), 'end_turn');
  assert.equal(mapStopReason(null), 'end_turn');

  for (const body of [{}, { choices: [] }, { choices: null }, 'text', null]) {
    assert.deepEqual(err(openaiResponseToAnthropic(body, 'm')), { status: 500, kind: 'text', body: 'no choices in response' });
  }
  const badArgs = err(openaiResponseToAnthropic({ choices: [{ message: { tool_calls: [{ id: 'x', function: { name: 'f', arguments: '{oops' } }] } }] }, 'm'));
  assert.equal(badArgs.status, 500);
  assert.equal(badArgs.kind, 'text');
  assert.match(badArgs.body, /^invalid tool_call arguments: /);
});

/** parse `event: X\ndata: Y\n\n` frames */
function frames(s: string): Array<{ event: string; data: any }> {
  const out: Array<{ event: string; data: any }> = [];
  for (const block of s.split('\n\n')) {
    if (!block) continue;
    const m = /^event: (.+)\ndata: (.+)$/.exec(block);
    assert.ok(m, `bad frame ${JSON.stringify(block)}`);
    out.push({ event: m[1]!, data: JSON.parse(m[2]!) });
  }
  assert.ok(s === '' || s.endsWith('\n\n'));
  return out;
}

const chunk = (delta: unknown, finish: string | null = null, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'chatcmpl-9', object: 'chat.completion.chunk', model: 'gpt-4o-2024', choices: [{ index: 0, delta, finish_reason: finish }], ...extra });

test('R-REQ-22 streaming text: message_start, text deltas, deferred message_delta merged with a trailing usage chunk, message_stop once', () => {
  const c = new OpenaiToAnthropicStream('gpt-4o');
  let out = c.push(chunk({ role: 'assistant', content: '' }));
  out += c.push(chunk({ content: 'Hel' }));
  out += c.push(chunk({ content: 'lo' }));
  out += c.push('not json');
  const beforeFinish = frames(out);
  assert.deepEqual(beforeFinish.map((f) => f.event), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta']);
  assert.deepEqual(beforeFinish[0]!.data, {
    type: 'message_start',
    message: { id: 'chatcmpl-9', type: 'message', role: 'assistant', model: 'gpt-4o', content: [], usage: { input_tokens: 0, output_tokens: 0 } },
  });
  assert.deepEqual(beforeFinish[1]!.data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  assert.deepEqual(beforeFinish[2]!.data, { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } });
  const fin = frames(c.push(chunk({}, 'stop')));
  assert.deepEqual(fin.map((f) => f.event), ['content_block_stop'], 'message_delta is deferred');
  assert.deepEqual(fin[0]!.data, { type: 'content_block_stop', index: 0 });
  const usage = frames(c.push(JSON.stringify({ id: 'chatcmpl-9', choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } })));
  assert.deepEqual(usage, [
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 9, output_tokens: 2 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ]);
  assert.equal(c.push('[DONE]'), '');
  assert.equal(c.end(), '');
  assert.equal(c.finished, true);
});

test('R-REQ-22 streaming: [DONE] flushes a pending stop; usage in the finish chunk; end() flushes when [DONE] is missing', () => {
  const a = new OpenaiToAnthropicStream('');
  frames(a.push(chunk({ content: 'x' })));
  frames(a.push(chunk({}, 'length', { usage: { prompt_tokens: 1, completion_tokens: 2 } })));
  const done = frames(a.push(' [DONE]'));
  assert.deepEqual(done, [
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { input_tokens: 1, output_tokens: 2 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ]);
  const b = new OpenaiToAnthropicStream('m');
  const start = frames(b.push(chunk({ content: 'y' })));
  assert.equal(start[0]!.data.message.model, 'm');
  b.push(chunk({}, 'stop'));
  const tail = b.end();
  assert.equal(typeof tail, 'string');
  assert.deepEqual(frames(tail as string).map((f) => f.event), ['message_delta', 'message_stop']);
  // the response's model when no effective model is known
  const c = new OpenaiToAnthropicStream('');
  assert.equal(frames(c.push(chunk({ content: 'z' })))[0]!.data.message.model, 'gpt-4o-2024');
});

test('R-REQ-22 streaming tool calls: each tool call opens a tool_use block and streams input_json_delta', () => {
  const c = new OpenaiToAnthropicStream('m');
  let out = c.push(chunk({ role: 'assistant', content: 'Let me check.' }));
  out += c.push(chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }));
  out += c.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }));
  out += c.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }));
  out += c.push(chunk({ tool_calls: [{ index: 1, id: 'call_b', function: { name: 'other', arguments: '{}' } }] }));
  out += c.push(chunk({ tool_calls: [{ function: { arguments: 'no index' } }] }));
  out += c.push(chunk({}, 'tool_calls'));
  out += c.push('[DONE]');
  const f = frames(out);
  assert.deepEqual(f.map((x) => x.event), [
    'message_start', 'content_block_start', 'content_block_delta',
    'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_delta',
    'content_block_stop', 'content_block_start', 'content_block_delta',
    'content_block_stop', 'message_delta', 'message_stop',
  ]);
  assert.deepEqual(f[3]!.data, { type: 'content_block_stop', index: 0 });
  assert.deepEqual(f[4]!.data, { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} } });
  assert.deepEqual(f[5]!.data, { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } });
  assert.deepEqual(f[8]!.data, { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'call_b', name: 'other', input: {} } });
  assert.deepEqual(f[10]!.data, { type: 'content_block_stop', index: 2 });
  assert.deepEqual(f[11]!.data, { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 0, output_tokens: 0 } }, 'zero usage when the upstream sent none');
  assert.equal(f.filter((x) => x.event === 'message_stop').length, 1);
});

test('R-REQ-22 a stream that produced no converted output ends with a 502 plain text reply', () => {
  const c = new OpenaiToAnthropicStream('m');
  assert.equal(c.push('{"type":"message_start","message":"anthropic style"'), '');
  assert.equal(c.push('[DONE]'), '');
  assert.deepEqual(c.end(), {
    status: 502,
    kind: 'text',
    body: 'streaming response completed without producing any output; the upstream likely returned a different SSE format than the converter expects',
  });
  const d = new OpenaiToAnthropicStream('m');
  assert.equal(d.push('"a string"'), '');
  assert.equal((d.end() as { status: number }).status, 502);
});
