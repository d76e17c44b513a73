// Protocols beyond OpenAI chat: vertex-ai with GCP tokens and embeddings
// conversion, OpenAI Responses passthrough, Anthropic native streams; and the
// selection rules that involve health and partially sent streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { startMockLlm, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { startHarness, postJson, type Harness } from './harness.js';
import { aiProxyMulti } from '../../src/plugins/ai-proxy-multi/index.js';
import { aiProxy } from '../../src/plugins/ai-proxy/index.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

async function mock(t: any): Promise<MockLlm> {
  const m = await startMockLlm();
  t.after(() => m.close());
  return m;
}
async function harness(t: any, def: any, conf: unknown, opts?: any): Promise<Harness> {
  const h = await startHarness(def, conf, opts);
  t.after(() => h.close());
  return h;
}

test('R-PRV-12 R-PRV-10 R-PRV-4 R-REQ-7: vertex-ai embeddings with a GCP service-account token; token failure -> 500 JSON', async (t) => {
  const m = await mock(t);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sa = JSON.stringify({ client_email: 'sa@p.iam.gserviceaccount.com', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: `${m.url}/token` });
  m.route('/token', { json: { access_token: 'tok-1', expires_in: 3600, token_type: 'Bearer' } });
  m.route('/v1/projects/p/locations/r/publishers/google/models/text-embedding-005:predict', {
    json: { predictions: [{ embeddings: { values: [0.1, 0.2], statistics: { token_count: 3 } } }, { embeddings: { values: [0.3], statistics: { token_count: 2 } } }] },
  });
  const h = await harness(t, aiProxyMulti, {
    instances: [{
      name: 'vx', provider: 'vertex-ai', weight: 1,
      auth: { header: { Authorization: 'Bearer static' }, gcp: { service_account_json: sa } },
      options: { model: 'text-embedding-005' },
      override: { endpoint: `${m.url}/v1/projects/p/locations/r/publishers/google/models/text-embedding-005:predict` },
    }],
  });
  const r = await postJson(h.url + '/embeddings', { input: ['hello', 'world'] }, { authorization: 'Bearer client' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'list');
  assert.deepEqual(r.json.data[0].embedding, [0.1, 0.2]);
  assert.equal(r.json.usage.total_tokens, 5);
  const up = m.requests.find((q) => q.path.endsWith(':predict'))!;
  assert.equal(up.headers.authorization, 'Bearer tok-1', 'GCP token replaces auth.header and the client header');
  assert.deepEqual(up.body.instances, [{ content: 'hello' }, { content: 'world' }]);
  const tokenReq = m.requests.find((q) => q.path === '/token')!;
  assert.match(tokenReq.rawBody, /grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=/);
  assert.deepEqual([h.contexts[0]!.llm.promptTokens, h.contexts[0]!.llm.totalTokens], [5, 5]);
  // conversion error -> 400 JSON, no upstream call
  const bad = await postJson(h.url + '/embeddings', { input: 5 });
  assert.equal(bad.status, 400);
  // token endpoint failure
  m.route('/token', { status: 500, body: 'nope' });
  const h2 = await harness(t, aiProxy, { provider: 'vertex-ai', auth: { gcp: { service_account_json: sa } }, override: { endpoint: `${m.url}/chat` } });
  const r2 = await postJson(h2.url + '/anything', CHAT);
  assert.equal(r2.status, 500);
  assert.match(r2.json.error_msg, /^failed to get gcp access token: /);
});

test('R-REQ-24: openai-responses passed through unchanged; usage from the body and from response.completed', async (t) => {
  const m = await mock(t);
  m.reply((req) => req.body.stream
    ? { sse: [
      { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', delta: 'Hi' } },
      { event: 'response.completed', data: { type: 'response.completed', response: { usage: { input_tokens: 4, output_tokens: 2, total_tokens: 6 } } } },
    ] }
    : { json: { id: 'resp_1', object: 'response', output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hi' }] }], usage: { input_tokens: 4, output_tokens: 2, total_tokens: 6 } } });
  const h = await harness(t, aiProxy, { provider: 'openai-compatible', auth: {}, override: { endpoint: m.url } });
  const r = await postJson(h.url + '/v1/responses', { model: 'gpt-x', input: 'hello' });
  assert.equal(r.status, 200);
  assert.equal(m.requests[0]!.path, '/v1/responses');
  assert.deepEqual(m.requests[0]!.body, { model: 'gpt-x', input: 'hello' });
  assert.equal(h.contexts[0]!.llm.clientProtocol, 'openai-responses');
  assert.equal(h.contexts[0]!.llm.totalTokens, 6);
  const s = await postJson(h.url + '/v1/responses', { model: 'gpt-x', input: 'hello', stream: true });
  assert.match(s.text, /response\.completed/);
  assert.equal(m.requests[1]!.body.stream_options, undefined, 'R-REQ-9: no stream_options for responses');
  await h.logged(2);
  assert.deepEqual([h.contexts[1]!.llm.promptTokens, h.contexts[1]!.llm.completionTokens], [4, 2]);
});

test('R-REQ-23: anthropic-messages passthrough to provider anthropic, streaming usage', async (t) => {
  const m = await mock(t);
  const ev = (type: string, data: object) => ({ event: type, data: { type, ...data } });
  m.route('/v1/messages', { sse: [
    ev('message_start', { message: { id: 'm', usage: { input_tokens: 12, output_tokens: 1 } } }),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
    ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }),
    ev('message_stop', {}),
  ] });
  const h = await harness(t, aiProxyMulti, { logging: { payloads: true }, instances: [{ name: 'claude', provider: 'anthropic', weight: 1, auth: { header: { 'x-api-key': 'k' } }, override: { endpoint: m.url } }] });
  const body = { model: 'claude-3', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] };
  const r = await postJson(h.url + '/v1/messages', body);
  assert.match(r.text, /event: message_stop/);
  assert.deepEqual(m.requests[0]!.body, body, 'passed through unchanged');
  await h.logged(1);
  const llm = h.contexts[0]!.llm;
  assert.deepEqual([llm.promptTokens, llm.completionTokens, llm.totalTokens], [12, 9, 21]);
  assert.equal(llm.responseText, 'Hello');
});

test('R-REQ-20 R-REQ-22: anthropic-messages converted for an OpenAI provider, stream converted back', async (t) => {
  const m = await mock(t);
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'oa', provider: 'openai', weight: 1, auth: {}, options: { model: 'gpt-4' }, override: { endpoint: m.url } }] });
  const r = await postJson(h.url + '/v1/messages', { model: 'claude', max_tokens: 10, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'message');
  assert.equal(r.json.usage.input_tokens, 23);
  assert.equal(m.requests[0]!.path, '/v1/chat/completions');
  assert.deepEqual(m.requests[0]!.body.messages[0], { role: 'system', content: 'be brief' });
  m.reply({ sse: sseChat('gpt-4') });
  const s = await postJson(h.url + '/v1/messages', { model: 'claude', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  assert.match(s.headers.get('content-type')!, /text\/event-stream/);
  assert.match(s.text, /event: message_start/);
  assert.match(s.text, /event: message_stop/);
  assert.deepEqual(m.requests[1]!.body.stream_options, { include_usage: true });
  // an upstream stream the converter cannot use -> 502 text
  m.reply({ sse: ['not json at all'] });
  const bad = await postJson(h.url + '/v1/messages', { model: 'claude', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(bad.status, 502);
  assert.match(bad.text, /^streaming response completed without producing any output/);
});

test('R-FB-10 R-STR-2: no fallback once stream bytes were sent', async (t) => {
  const [a, b] = [await mock(t), await mock(t)];
  a.reply({ sse: sseChat('gpt-4', ['x', 'y', 'z'], null, 10), dropAfter: 2 });
  const h = await harness(t, aiProxyMulti, {
    fallback_strategy: ['http_5xx'],
    instances: [
      { name: 'a', provider: 'openai', weight: 1, priority: 1, auth: {}, override: { endpoint: a.url } },
      { name: 'b', provider: 'openai', weight: 1, auth: {}, override: { endpoint: b.url } },
    ],
  });
  const r = await fetch(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true }) });
  // R-STR-2 (supersedes R-RSP-15's bare close): the stream ends with an error event
  assert.match(await r.text(), /"code":"upstream_closed"\}\}\n\n$/);
  await h.logged(1);
  assert.equal(b.count(), 0);
  assert.equal(h.contexts[0]!.upstreamAttempts.length, 1);
});

test('R-BAL-3 R-HC-10 R-HC-13: instances reported unhealthy are skipped; all unhealthy -> all used; targets registered', async (t) => {
  const mocks = [await mock(t), await mock(t)];
  const unhealthy = new Set<string>();
  let version = 0;
  const registered: any[] = [];
  const health = {
    register(parentKey: string, confHash: string, targets: any[]) {
      registered.push({ parentKey, confHash, targets });
      return { isHealthy: (n: string) => !unhealthy.has(n), isCooling: () => false, trialOpen: () => false, claimTrial: () => false, observe() {}, get version() { return version; }, destroy() {} };
    },
    report: () => [],
    close() {},
  };
  const h = await harness(t, aiProxyMulti, {
    instances: mocks.map((m, i) => ({
      name: `llm-instance-${i + 1}`, provider: 'openai-compatible', weight: 1, auth: { header: { Authorization: 'Bearer k' } },
      override: { endpoint: m.url },
      ...(i === 1 ? { checks: { active: { type: 'http', host: 'yourhost.com', http_path: '/your/probe/path', healthy: { interval: 2, successes: 1 }, unhealthy: { interval: 1, http_failures: 3 } } } } : {}),
    })),
  }, { health });
  assert.equal(registered.length, 1);
  // every instance is registered (R-PHC-2 cool-downs need no checks); only the second has checks
  const all = registered[0].targets;
  assert.equal(all.length, 2);
  assert.equal(all[0].checks, undefined);
  const tg = all.slice(1);
  assert.deepEqual([tg[0].name, tg[0].host, tg[0].port, tg[0].scheme, tg[0].index], ['llm-instance-2', '127.0.0.1', mocks[1]!.port, 'http', 1]);
  assert.equal(tg[0].checks.active.healthy.interval, 2);
  assert.equal(tg[0].checks.active.unhealthy.timeouts, 3);
  assert.deepEqual(tg[0].auth.header, { Authorization: 'Bearer k' });
  for (let i = 0; i < 4; i++) await postJson(h.url + '/anything', CHAT);
  assert.deepEqual(mocks.map((m) => m.count()), [2, 2]);
  unhealthy.add('llm-instance-2');
  version++;
  for (let i = 0; i < 4; i++) await postJson(h.url + '/anything', CHAT);
  assert.deepEqual(mocks.map((m) => m.count()), [6, 2]);
  unhealthy.add('llm-instance-1');
  version++;
  for (let i = 0; i < 4; i++) await postJson(h.url + '/anything', CHAT);
  assert.deepEqual(mocks.map((m) => m.count()), [8, 4]);
});
