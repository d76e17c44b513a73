// R-USG-3 `$llm_has_tool_calls` (and `$llm_tool_count`) end to end: an
// answer that calls tools, buffered or streamed, in OpenAI chat and
// Anthropic Messages, logs `true`; a plain answer logs `false`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, sseChat, anthropicMessage, type MockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
const CHAT = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: TOOLS };
const CALL = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };

describe('R-USG-3 llm_has_tool_calls', () => {
  let gw: GatewayProcess;
  let mock: MockLlm;
  before(async () => {
    mock = await startMockLlm();
    gw = await startGateway({ config: { nginx_config: { http: { access_log_format: '$uri $request_type $llm_has_tool_calls $llm_tool_count' } } } });
    const route = (uri: string, provider: string, auth: Record<string, string>) => ({
      uri,
      plugins: { 'ai-proxy': { provider, auth: { header: auth }, override: { endpoint: mock.url + (provider === 'anthropic' ? '/v1/messages' : '/v1/chat/completions') } } },
    });
    for (const [id, r] of [['tc-openai', route('/tc/openai', 'openai', { Authorization: 'Bearer sk' })], ['tc-claude', route('/tc/claude/v1/messages', 'anthropic', { 'x-api-key': 'ak' })]] as const) {
      const res = await gw.admin('PUT', `/apisix/admin/routes/${id}`, r);
      assert.ok(res.status === 200 || res.status === 201, res.text);
    }
  });
  after(async () => {
    await gw?.stop();
    await mock?.close();
  });

  const lines = () => {
    let text = '';
    try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
    return text.split('\n').filter((l) => l.startsWith('/tc/'));
  };
  async function send(uri: string, body: unknown): Promise<string> {
    const n = lines().length;
    const res = await fetch(gw.proxyUrl + uri, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    await res.text();
    await until(() => lines().length === n + 1, 3000, 'the access-log line');
    return lines()[n]!;
  }

  test('OpenAI chat, buffered: a tool call is true, a plain answer false', async () => {
    const withCall = chatCompletion('gpt-4o', '');
    (withCall.choices as any)[0] = { index: 0, message: { role: 'assistant', content: null, tool_calls: [CALL] }, finish_reason: 'tool_calls' };
    mock.replyOnce({ json: withCall });
    assert.equal(await send('/tc/openai', CHAT), '/tc/openai ai_chat true 1');
    mock.replyOnce({ json: chatCompletion('gpt-4o', 'Sunny.') });
    assert.equal(await send('/tc/openai', CHAT), '/tc/openai ai_chat false 1');
  });

  test('OpenAI chat, streamed with usage: tool-call deltas are seen although only usage events are parsed', async () => {
    const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o' };
    const sse = [
      { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, ...CALL, function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }] } },
      { data: { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] }, finish_reason: null }] } },
      { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] } },
      { data: { ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 } } },
      { data: '[DONE]' },
    ];
    mock.replyOnce({ sse });
    assert.equal(await send('/tc/openai', { ...CHAT, stream: true }), '/tc/openai ai_stream true 1');
    mock.replyOnce({ sse: sseChat('gpt-4o', ['Sunny', '.']) });
    assert.equal(await send('/tc/openai', { ...CHAT, stream: true }), '/tc/openai ai_stream false 1');
  });

  test('Anthropic Messages, buffered and streamed', async () => {
    const body = { model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] };
    const answer = anthropicMessage('claude-x');
    answer.content = [{ type: 'tool_use', id: 'tu_1', name: 'get_weather', input: { city: 'Paris' } }];
    answer.stop_reason = 'tool_use';
    mock.replyOnce({ json: answer });
    assert.equal(await send('/tc/claude/v1/messages', body), '/tc/claude/v1/messages ai_chat true 1');
    mock.replyOnce({ json: anthropicMessage('claude-x', 'Sunny.') });
    assert.equal(await send('/tc/claude/v1/messages', body), '/tc/claude/v1/messages ai_chat false 1');
    const sse = [
      { event: 'message_start', data: { type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 9, output_tokens: 1 } } } },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'tu_1', name: 'get_weather', input: {} } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"city":"Paris"}' } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 7 } } },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ];
    mock.replyOnce({ sse });
    assert.equal(await send('/tc/claude/v1/messages', { ...body, stream: true }), '/tc/claude/v1/messages ai_stream true 1');
  });
});
