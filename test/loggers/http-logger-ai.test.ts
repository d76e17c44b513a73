// http-logger with the AI plugins through the real CLI: the seed's "Send
// Request Log to Logger" scenario with http-logger instead of Kafka (R-SCN-8
// allows it), streams and response bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startCollector } from './collector.js';

test('R-SCN-8 R-LOG-20 R-LOG-21 R-LOG-22 R-LOG-3: seed logger scenario with http-logger — LLM members, streams, response body', async (t) => {
  const { startMockLlm } = await import('../helpers/mock-llm.js');
  const mock = await startMockLlm();
  const collector = await startCollector();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await collector.close(); await mock.close(); });
  const instances = [
    { name: 'openai-instance', provider: 'openai', weight: 8, auth: { header: { Authorization: 'Bearer sk-1' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
    { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: { header: { Authorization: 'Bearer sk-2' } }, options: { model: 'deepseek-chat' }, override: { endpoint: mock.url } },
  ];
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/ai-proxy-multi-route', {
    uri: '/anything', methods: ['POST'],
    plugins: {
      'ai-proxy-multi': { instances, logging: { summaries: true, payloads: true } },
      'http-logger': { uri: `${collector.url}/ai`, batch_max_size: 1, include_resp_body: true },
    },
  })).status, 201);
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/quiet', {
    uri: '/quiet', methods: ['POST'],
    plugins: { 'ai-proxy-multi': { instances }, 'http-logger': { uri: `${collector.url}/quiet`, batch_max_size: 1 } },
  })).status, 201);
  const messages = [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }];
  const post = async (p: string, body: unknown) => {
    const r = await fetch(gw.proxyUrl + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200);
    return r.text();
  };
  const chatText = await post('/anything', { messages });
  await collector.waitFor(1);
  let e = JSON.parse(collector.received[0]!.body);
  assert.equal(e.llm_summary.request_model, '');
  assert.ok(['gpt-4', 'deepseek-chat'].includes(e.llm_summary.model));
  assert.equal(e.llm_summary.prompt_tokens, 23);
  assert.equal(e.llm_summary.completion_tokens, 8);
  assert.ok(Number.isInteger(e.llm_summary.duration) && Number.isInteger(e.llm_summary.upstream_response_time));
  assert.deepEqual(e.llm_request, { messages, stream: false });
  assert.deepEqual(e.llm_response_text, { content: '1+1 equals 2.' });
  assert.equal(e.response.body, chatText, 'the response body is what the client received');
  assert.equal(e.request.headers.authorization, undefined);

  const streamText = await post('/anything', { messages, stream: true });
  await collector.waitFor(2);
  e = JSON.parse(collector.received[1]!.body);
  assert.equal(e.llm_request.stream, true);
  assert.equal(e.response.body, streamText, 'for streams, the concatenated SSE bytes');
  assert.match(e.response.body, /data: \[DONE\]/);

  await post('/quiet', { model: 'gpt-4', messages });
  await collector.waitFor(3);
  e = JSON.parse(collector.received[2]!.body);
  assert.equal(collector.received[2]!.url, '/quiet');
  assert.equal(e.llm_summary, undefined, 'absent without logging.summaries');
  assert.equal(e.llm_request, undefined);
  assert.equal(e.llm_response_text, undefined);
});
