// The converted Anthropic responses parse with the official Anthropic SDK
// (R-REQ-21, R-REQ-22): a local server answers /v1/messages with the output
// of the converters fed with OpenAI-format input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { anthropicRequestToOpenai, openaiResponseToAnthropic, OpenaiToAnthropicStream } from '../../src/llm/converters/anthropic-messages-to-openai-chat.js';

const openaiChunks = (usage: boolean) => [
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: { content: 'Checking ' }, finish_reason: null }] },
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: { content: 'the weather.' }, finish_reason: null }] },
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }] },
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, finish_reason: null }] },
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: null }] },
  { id: 'c1', model: 'gpt-x', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
  ...(usage ? [{ id: 'c1', model: 'gpt-x', choices: [], usage: { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 } }] : []),
];

async function server(t: import('node:test').TestContext, usage: boolean) {
  const seen: any[] = [];
  const srv = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d) => (raw += d)).on('end', () => {
      const body = JSON.parse(raw);
      const conv = anthropicRequestToOpenai(body);
      assert.equal(conv.ok, true);
      seen.push((conv as any).body);
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const c = new OpenaiToAnthropicStream('gpt-x');
        for (const ch of openaiChunks(usage)) res.write(c.push(JSON.stringify(ch)));
        res.write(c.push('[DONE]'));
        const tail = c.end();
        res.end(typeof tail === 'string' ? tail : '');
        return;
      }
      const r = openaiResponseToAnthropic({
        id: 'c2', model: 'gpt-x',
        choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } }],
        usage: { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 },
      }, 'gpt-x');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify((r as any).body));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { srv.closeAllConnections(); srv.close(); });
  const client = new Anthropic({ apiKey: 'k', baseURL: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, maxRetries: 0 });
  return { client, seen };
}

const params = {
  model: 'claude-x',
  max_tokens: 64,
  system: 'be brief',
  messages: [{ role: 'user' as const, content: 'weather in Paris?' }],
  tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }],
};

test('R-REQ-20 R-REQ-21 the Anthropic SDK parses a converted non-streaming response', async (t) => {
  const { client, seen } = await server(t, true);
  const msg = await client.messages.create(params);
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.stop_reason, 'tool_use');
  assert.deepEqual(msg.content, [
    { type: 'text', text: 'Checking.' },
    { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
  ]);
  assert.equal(msg.usage.input_tokens, 11);
  assert.equal(msg.usage.output_tokens, 6);
  assert.deepEqual(seen[0].messages, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'weather in Paris?' }]);
  assert.equal(seen[0].max_completion_tokens, 64);
  assert.equal(seen[0].tools[0].function.name, 'get_weather');
});

for (const usage of [true, false]) {
  test(`R-REQ-22 the Anthropic SDK stream helper accumulates a converted stream (${usage ? 'with' : 'without'} upstream usage)`, async (t) => {
    const { client } = await server(t, usage);
    const stream = client.messages.stream(params);
    let text = '';
    stream.on('text', (d) => (text += d));
    const msg = await stream.finalMessage();
    assert.equal(text, 'Checking the weather.');
    assert.equal(msg.model, 'gpt-x');
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(msg.content, [
      { type: 'text', text: 'Checking the weather.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    assert.equal(msg.usage.output_tokens, usage ? 6 : 0);
    if (usage) assert.equal(msg.usage.input_tokens, 11);
  });
}
