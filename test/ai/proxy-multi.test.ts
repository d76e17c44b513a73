// ai-proxy-multi behaviour through a real HTTP pipeline (test/ai/harness.ts)
// against the mock LLM: balancing, fallback, request building, responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMockLlm, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { startHarness, postJson, type Harness } from './harness.js';
import { aiProxyMulti } from '../../src/plugins/ai-proxy-multi/index.js';
import { aiProxy } from '../../src/plugins/ai-proxy/index.js';
import { getEncoding } from 'js-tiktoken';
import { promptText } from '../../src/llm/tokens.js';

const CHAT = { messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] };
const auth = (k: string) => ({ header: { Authorization: `Bearer ${k}` } });

async function setup(t: any, n: number): Promise<MockLlm[]> {
  const mocks = await Promise.all(Array.from({ length: n }, () => startMockLlm()));
  t.after(() => Promise.all(mocks.map((m) => m.close())));
  return mocks;
}
async function harness(t: any, def: any, conf: unknown, opts?: any): Promise<Harness> {
  const h = await startHarness(def, conf, opts);
  t.after(() => h.close());
  return h;
}

test('R-SCN-1 R-BAL-4 R-REQ-5 R-REQ-7: 8:2 split over 10 requests, paths, auth and model per instance', async (t) => {
  const [oa, ds] = await setup(t, 2);
  const h = await harness(t, aiProxyMulti, {
    instances: [
      { name: 'openai-instance', provider: 'openai', weight: 8, auth: auth('oa-key'), options: { model: 'gpt-4' }, override: { endpoint: oa!.url } },
      { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: auth('ds-key'), options: { model: 'deepseek-chat' }, override: { endpoint: ds!.url } },
    ],
  });
  const models: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await postJson(h.url + '/anything', CHAT, { authorization: 'Bearer client-secret' });
    assert.equal(r.status, 200);
    models.push(r.json.model);
  }
  assert.equal(models.filter((m) => m === 'gpt-4').length, 8);
  assert.equal(models.filter((m) => m === 'deepseek-chat').length, 2);
  assert.equal(oa!.requests[0]!.path, '/v1/chat/completions');
  assert.equal(oa!.requests[0]!.method, 'POST');
  assert.equal(oa!.requests[0]!.headers.authorization, 'Bearer oa-key');
  assert.equal(oa!.requests[0]!.body.model, 'gpt-4');
  assert.deepEqual(oa!.requests[0]!.body.messages, CHAT.messages);
  assert.equal(ds!.requests[0]!.path, '/chat/completions');
  assert.equal(ds!.requests[0]!.headers.authorization, 'Bearer ds-key');
  const ctx = h.contexts[0]!;
  assert.equal(ctx.llm.requestType, 'ai_chat');
  assert.equal(ctx.llm.requestModel, '');
  assert.equal(ctx.llm.model, 'gpt-4');
  assert.equal(ctx.llm.instanceName, 'openai-instance');
  assert.equal(ctx.llm.promptTokens, 23);
  assert.equal(ctx.llm.completionTokens, 8);
  assert.equal(ctx.llm.totalTokens, 31);
  assert.deepEqual(ctx.llm.rawUsage, { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 });
  assert.equal(ctx.upstreamAttempts.length, 1);
  assert.equal(ctx.upstreamAttempts[0]!.status, 200);
  assert.equal(ctx.upstreamAttempts[0]!.addr, `127.0.0.1:${oa!.port}`);
  assert.equal(ctx.upstreamScheme, 'http');
  assert.equal(ctx.upstreamHost, `127.0.0.1:${oa!.port}`);
  assert.equal(ctx.upstreamUri, '/v1/chat/completions');
});

test('R-SCN-4 R-REQ-4: options.max_tokens per instance wins over the client, instances alternate', async (t) => {
  const [oa, ds] = await setup(t, 2);
  const h = await harness(t, aiProxyMulti, {
    instances: [
      { name: 'openai-instance', provider: 'openai', weight: 0, auth: auth('a'), options: { model: 'gpt-4', max_tokens: 50 }, override: { endpoint: oa!.url } },
      { name: 'deepseek-instance', provider: 'deepseek', weight: 0, auth: auth('b'), options: { model: 'deepseek-chat', max_tokens: 100 }, override: { endpoint: ds!.url } },
    ],
  });
  const models: string[] = [];
  for (let i = 0; i < 4; i++) models.push((await postJson(h.url + '/anything', { ...CHAT, max_tokens: 500, temperature: 0.2 })).json.model);
  assert.deepEqual(models, ['gpt-4', 'deepseek-chat', 'gpt-4', 'deepseek-chat']);
  assert.ok(oa!.requests.every((r) => r.body.max_tokens === 50 && r.body.temperature === 0.2));
  assert.ok(ds!.requests.every((r) => r.body.max_tokens === 100));
});

test('R-REQ-4: a request that already names the instance\'s options is forwarded as the client\'s bytes; one that differs is re-serialised', async (t) => {
  const [oa] = await setup(t, 1);
  const h = await harness(t, aiProxyMulti, {
    instances: [{ name: 'openai-instance', provider: 'openai', weight: 1, auth: auth('a'), options: { model: 'gpt-4' }, override: { endpoint: oa!.url } }],
  });
  // spacing and an escaped character JSON.stringify would not reproduce
  const asSent = '{ "model": "gpt-4",\n  "messages": [{"role": "user", "content": "caf\\u00e9"}] }';
  let r = await postJson(h.url + '/v1/chat/completions', asSent);
  assert.equal(r.status, 200, r.text);
  assert.equal(oa!.requests.at(-1)!.rawBody, asSent);
  const reserialised = JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'café' }] });
  const other = asSent.replace('"gpt-4"', '"gpt-3.5"');
  r = await postJson(h.url + '/v1/chat/completions', other);
  assert.equal(r.status, 200, r.text);
  assert.equal(oa!.requests.at(-1)!.rawBody, reserialised);
  // a repeated "model" (the last one matches): the upstream must not see the first
  r = await postJson(h.url + '/v1/chat/completions', asSent.replace('{ "model"', '{ "model": "gpt-3.5", "model"'));
  assert.equal(r.status, 200, r.text);
  assert.equal(oa!.requests.at(-1)!.rawBody, reserialised);
});

test('R-FB-9 R-SCN-10 R-FB-3 R-FB-4 R-BAL-2 R-VAR-4: fallback over priorities on 429/5xx', async (t) => {
  const [m429, m500, m200] = await setup(t, 3);
  m429!.reply({ status: 429, json: { error: 'rate limited' } });
  m500!.reply({ status: 500, json: { error: 'boom' } });
  const inst = (name: string, m: MockLlm, priority: number, weight: number) => ({ name, provider: 'openai', priority, weight, auth: auth(name), override: { endpoint: m.url } });
  const h = await harness(t, aiProxyMulti, {
    fallback_strategy: ['http_429', 'http_5xx'],
    instances: [inst('mock-429', m429!, 10, 1), inst('mock-500', m500!, 0, 10), inst('mock-200', m200!, 0, 1)],
  });
  for (let i = 0; i < 4; i++) {
    const r = await postJson(h.url + '/anything', CHAT);
    assert.equal(r.status, 200);
  }
  const ctx = h.contexts[0]!;
  assert.equal(ctx.llm.instanceName, 'mock-200');
  assert.deepEqual(ctx.upstreamAttempts.map((a) => a.status), [429, 500, 200]);
  assert.equal(m429!.count(), 4, 'no instance attempted twice (R-FB-6)');
  const h2 = await harness(t, aiProxyMulti, {
    fallback_strategy: ['http_429', 'http_5xx'],
    instances: [inst('mock-429', m429!, 10, 1), inst('mock-500', m500!, 0, 1)],
  });
  const r2 = await postJson(h2.url + '/anything', CHAT);
  assert.equal(r2.status, 502);
  assert.match(r2.text, /502 Bad Gateway/);
});

test('R-FB-7 R-FB-5 R-FB-8 R-AP-5: uncovered 429/5xx relayed with body and content-type; transport failures 500/504; single instance never falls back', async (t) => {
  const [a, b] = await setup(t, 2);
  a!.reply({ status: 429, headers: { 'content-type': 'application/problem+json', 'x-secret': 'no' }, body: '{"error":"slow down"}' });
  const h = await harness(t, aiProxyMulti, {
    fallback_strategy: ['http_5xx'],
    instances: [
      { name: 'a', provider: 'openai', weight: 1, priority: 1, auth: {}, override: { endpoint: a!.url } },
      { name: 'b', provider: 'openai', weight: 1, auth: {}, override: { endpoint: b!.url } },
    ],
  });
  const r = await postJson(h.url + '/anything', CHAT);
  assert.equal(r.status, 429);
  assert.equal(r.text, '{"error":"slow down"}');
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  assert.equal(r.headers.get('x-secret'), null, 'other upstream headers not relayed (R-RSP-2)');
  assert.equal(b!.count(), 0);
  // single instance, http_5xx: the 500 is relayed
  a!.reply({ status: 500, json: { error: 'x' } });
  const single = await harness(t, aiProxyMulti, { fallback_strategy: ['http_5xx'], instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: a!.url } }] });
  const r2 = await postJson(single.url + '/anything', CHAT);
  assert.equal(r2.status, 500);
  assert.deepEqual(r2.json, { error: 'x' });
  // connection refused -> 500 page
  const dead = await startMockLlm();
  const deadUrl = dead.url;
  await dead.close();
  const h3 = await harness(t, aiProxyMulti, { instances: [{ name: 'dead', provider: 'openai', weight: 1, auth: {}, override: { endpoint: deadUrl } }] });
  const r3 = await postJson(h3.url + '/anything', CHAT);
  assert.equal(r3.status, 500);
  assert.match(r3.text, /500 Internal Server Error/);
  assert.equal(h3.contexts[0]!.upstreamAttempts[0]!.status, 502);
  // timeout -> 504 page (R-REQ-10)
  a!.reply({ hang: true });
  const h4 = await harness(t, aiProxy, { provider: 'openai', auth: {}, timeout: 200, override: { endpoint: a!.url } });
  const t0 = Date.now();
  const r4 = await postJson(h4.url + '/anything', CHAT);
  assert.equal(r4.status, 504);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(h4.contexts[0]!.upstreamAttempts[0]!.status, 504);
  // missing endpoint (R-APM-6) -> 500 with an error log naming the instance
  const errors: string[] = [];
  const h5 = await harness(t, aiProxyMulti, { instances: [{ name: 'compat', provider: 'openai-compatible', weight: 1, auth: {} }] }, { errors });
  assert.equal((await postJson(h5.url + '/anything', CHAT)).status, 500);
  assert.ok(errors.some((e) => e.includes('compat')));
});

test('R-FB-4: transport failure is covered by http_5xx and falls back', async (t) => {
  const [ok] = await setup(t, 1);
  const dead = await startMockLlm();
  const deadUrl = dead.url;
  await dead.close();
  const h = await harness(t, aiProxyMulti, {
    fallback_strategy: 'http_5xx',
    instances: [
      { name: 'dead', provider: 'openai', weight: 1, priority: 1, auth: {}, override: { endpoint: deadUrl } },
      { name: 'ok', provider: 'openai', weight: 1, auth: {}, override: { endpoint: ok!.url } },
    ],
  });
  const r = await postJson(h.url + '/anything', CHAT);
  assert.equal(r.status, 200);
  assert.deepEqual(h.contexts[0]!.upstreamAttempts.map((a) => a.status), [502, 200]);
});

test('R-FB-2 R-FB-7 R-BAL-9: rate-limit-aware selection via ctx.instanceHasQuota; all exhausted -> 503 text', async (t) => {
  const [oa, ds] = await setup(t, 2);
  const exhausted = new Set<string>();
  const checked: string[] = [];
  const conf = {
    fallback_strategy: ['rate_limiting'],
    instances: [
      { name: 'openai-instance', provider: 'openai', priority: 1, weight: 0, auth: {}, options: { model: 'gpt-4' }, override: { endpoint: oa!.url } },
      { name: 'deepseek-instance', provider: 'deepseek', priority: 0, weight: 0, auth: {}, options: { model: 'deepseek-chat' }, override: { endpoint: ds!.url } },
    ],
  };
  const h = await harness(t, aiProxyMulti, conf, {
    instanceHasQuota: async (n: string, ctx: any) => {
      checked.push(n);
      ctx.extraResponseHeaders[`X-AI-RateLimit-Remaining-${n}`] = exhausted.has(n) ? '0' : '10';
      return !exhausted.has(n);
    },
  });
  assert.equal((await postJson(h.url + '/anything', CHAT)).json.model, 'gpt-4');
  exhausted.add('openai-instance');
  const r2 = await postJson(h.url + '/anything', CHAT);
  assert.equal(r2.json.model, 'deepseek-chat');
  assert.equal(r2.headers.get('x-ai-ratelimit-remaining-openai-instance'), '0');
  exhausted.add('deepseek-instance');
  const r3 = await postJson(h.url + '/anything', CHAT);
  assert.equal(r3.status, 503);
  assert.equal(r3.text, 'all servers tried');
  assert.equal(r3.headers.get('x-ai-ratelimit-remaining-openai-instance'), '0');
  assert.equal(r3.headers.get('x-ai-ratelimit-remaining-deepseek-instance'), '0');
  // one priority group -> "all upstream servers tried"
  const h2 = await harness(t, aiProxyMulti, { ...conf, instances: conf.instances.map((i) => ({ ...i, priority: 0 })) }, { instanceHasQuota: async () => false });
  assert.equal((await postJson(h2.url + '/anything', CHAT)).text, 'all upstream servers tried');
  // without the strategy the hook is not consulted
  checked.length = 0;
  const h3 = await harness(t, aiProxyMulti, { instances: conf.instances }, { instanceHasQuota: async (n: string) => (checked.push(n), false) });
  assert.equal((await postJson(h3.url + '/anything', CHAT)).status, 200);
  assert.deepEqual(checked, []);
});

test('R-REQ-1 R-REQ-2 R-REQ-3 R-VAR-2: body checks with exact texts', async (t) => {
  const [m] = await setup(t, 1);
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'd', provider: 'deepseek', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  let r = await postJson(h.url + '/anything', CHAT, { 'content-type': 'text/xml' });
  assert.equal(r.status, 400);
  assert.equal(r.text, 'unsupported content-type: text/xml, only application/json is supported');
  r = await postJson(h.url + '/anything', '');
  assert.equal(r.status, 400);
  assert.deepEqual(r.json, { message: 'could not get body: request body is empty' });
  r = await postJson(h.url + '/anything', '{bad');
  assert.equal(r.status, 400);
  assert.match(r.json.message, /^could not parse JSON request body: /);
  r = await postJson(h.url + '/anything', { prompt: 'x' });
  assert.equal(r.status, 400);
  assert.equal(r.text, 'no matching AI protocol for the request');
  r = await postJson(h.url + '/anything', [1, 2]);
  assert.equal(r.text, 'no matching AI protocol for the request');
  r = await postJson(h.url + '/anything', { input: 'hello' });
  assert.equal(r.status, 400);
  assert.equal(r.text, 'provider deepseek does not support openai-embeddings protocol (supported: openai-chat)');
  assert.equal(h.contexts[0]!.llm.requestType, 'traditional_http', 'rejected before acceptance stays traditional_http');
  // no content-type header: application/json assumed; GET with a body is served as POST
  const res = await new Promise<number>((resolve, reject) => {
    const payload = JSON.stringify(CHAT);
    const req = http.request(h.url + '/anything', { method: 'GET', headers: { 'content-length': Buffer.byteLength(payload) } }, (resp) => { resp.resume(); resolve(resp.statusCode!); });
    req.on('error', reject);
    req.end(payload);
  });
  assert.equal(res, 200);
  assert.equal(m!.requests.at(-1)!.method, 'POST');
  assert.equal(m!.requests.at(-1)!.headers['content-type'], 'application/json');
});

test('R-SCN-5 R-PRV-5 R-REQ-6: embeddings via openai and azure-openai (model removed, api-version query kept)', async (t) => {
  const [oa, az] = await setup(t, 2);
  const h = await harness(t, aiProxyMulti, {
    instances: [
      { name: 'openai-instance', provider: 'openai', weight: 0, auth: auth('k'), options: { model: 'text-embedding-3-small' }, override: { endpoint: `${oa!.url}/v1/embeddings` } },
      { name: 'az-openai-instance', provider: 'azure-openai', weight: 0, auth: { header: { 'api-key': 'azk' } }, options: { model: 'text-embedding-3-small' }, override: { endpoint: `${az!.url}/openai/deployments/text-embedding-3-small/embeddings?api-version=2023-05-15` } },
    ],
  });
  for (let i = 0; i < 2; i++) {
    const r = await postJson(h.url + '/embeddings', { input: 'hello world' });
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    assert.ok(Array.isArray(r.json.data[0].embedding));
  }
  assert.deepEqual(oa!.requests[0]!.body, { input: 'hello world', model: 'text-embedding-3-small' });
  assert.equal(oa!.requests[0]!.path, '/v1/embeddings');
  assert.deepEqual(az!.requests[0]!.body, { input: 'hello world' });
  assert.equal(az!.requests[0]!.path, '/openai/deployments/text-embedding-3-small/embeddings');
  assert.equal(az!.requests[0]!.query['api-version'], '2023-05-15');
  assert.equal(az!.requests[0]!.headers['api-key'], 'azk');
  const ctx = h.contexts[0]!;
  assert.equal(ctx.llm.requestType, 'ai_chat');
  assert.deepEqual([ctx.llm.promptTokens, ctx.llm.completionTokens, ctx.llm.totalTokens], [2, 0, 2]);
});

test('R-REQ-6 R-REQ-7 R-SEC-2: query auth merged with endpoint query; $env references resolved; consumer headers forwarded', async (t) => {
  const [m] = await setup(t, 1);
  process.env.SWY_AI_TEST_QKEY = 'resolved-key';
  const h = await harness(t, aiProxyMulti, {
    instances: [{ name: 'q', provider: 'openai', weight: 1, auth: { query: { api_key: '$env://SWY_AI_TEST_QKEY', some_query: 'no' }, header: { 'X-Api-Key': '$ENV://SWY_AI_TEST_QKEY' } }, override: { endpoint: `${m!.url}/test/params/in/overridden/endpoint?some_query=yes` } }],
  });
  await postJson(h.url + '/anything?client=1', CHAT, { 'x-consumer-username': 'johndoe', 'accept-encoding': 'gzip', apikey: 'john-key' });
  const r = m!.requests[0]!;
  assert.equal(r.path, '/test/params/in/overridden/endpoint');
  assert.deepEqual(r.query, { api_key: 'resolved-key', some_query: 'yes' });
  assert.equal(r.headers['x-api-key'], 'resolved-key');
  assert.equal(r.headers['x-consumer-username'], 'johndoe');
  assert.equal(r.headers.apikey, 'john-key');
  assert.equal(r.headers['accept-encoding'], undefined);
  assert.equal(r.headers.host, `127.0.0.1:${m!.port}`);
});

test('R-RSP-10 R-SCN-14 R-RSP-12 R-RSP-13 R-REQ-9: streams relayed chunk by chunk, bytes unchanged; usage parsed across split events', async (t) => {
  const [m] = await setup(t, 1);
  const events = sseChat('gpt-4', ['1+1 ', 'equals ', '2.'], { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 }, 30);
  assert.equal(events.length, 7);
  const h = await harness(t, aiProxyMulti, { logging: { payloads: true, summaries: true }, instances: [{ name: 's', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  // 1) one event per write (6 events after the role chunk + [DONE]): received as separate chunks, unchanged
  m!.replyOnce({ sse: events.slice(1) });
  const expected = events.slice(1).map((e) => `data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`);
  const r = await fetch(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  const chunks: string[] = [];
  const dec = new TextDecoder();
  for await (const c of r.body as any) chunks.push(dec.decode(c));
  assert.equal(chunks.join(''), expected.join(''));
  assert.equal(chunks.length, 6, 'each upstream chunk forwarded without waiting for more');
  assert.equal(chunks.at(-1), 'data: [DONE]\n\n');
  assert.deepEqual(m!.requests[0]!.body.stream_options, { include_usage: true });
  await h.logged(1);
  const ctx = h.contexts[0]!;
  assert.equal(ctx.llm.requestType, 'ai_stream');
  assert.deepEqual([ctx.llm.promptTokens, ctx.llm.completionTokens, ctx.llm.totalTokens], [23, 8, 31]);
  assert.ok(ctx.llm.timeToFirstTokenMs >= 20 && ctx.llm.timeToFirstTokenMs < 1000, `ttft ${ctx.llm.timeToFirstTokenMs}`);
  assert.ok(ctx.llm.upstreamResponseTimeMs! >= ctx.llm.timeToFirstTokenMs + 100);
  assert.equal(ctx.llm.responseText, '1+1 equals 2.');
  assert.equal(ctx.llm.logPayloads, true);
  assert.equal(ctx.llm.logSummaries, true);
  assert.deepEqual((ctx.llm.requestBody as any).messages, CHAT.messages);
  // 2) the same bytes split at awkward places
  const whole = expected.join('');
  const cuts = [3, 17, 60, 61, 130, whole.length - 5];
  const parts: string[] = [];
  let prev = 0;
  for (const c of cuts) { parts.push(whole.slice(prev, c)); prev = c; }
  parts.push(whole.slice(prev));
  m!.replyOnce({ chunks: parts.map((p) => ({ data: p, delayMs: 5 })) });
  const r2 = await fetch(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(await r2.text(), whole);
  await h.logged(2);
  assert.equal(h.contexts[1]!.llm.totalTokens, 31);
});

// R-STR-2 (12-beyond, newer) replaces R-RSP-15's bare close with a final error event and a clean end
test('R-RSP-15 R-STR-2: mid-stream failure ends the stream with one error event, no [DONE]', async (t) => {
  const [m] = await setup(t, 1);
  const errors: string[] = [];
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'midfail', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] }, { errors });
  m!.reply({ sse: sseChat('gpt-4', ['a', 'b', 'c'], null, 10), dropAfter: 2 });
  const r = await fetch(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true }) });
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.ok(!text.includes('[DONE]'), text);
  const events = text.split('\n\n').filter(Boolean);
  assert.equal(events.length, 3, text);
  assert.deepEqual(JSON.parse(events[2]!.slice('data: '.length)).error, {
    message: 'the upstream closed the connection before the answer was complete', type: 'upstream_error', code: 'upstream_closed',
  });
  await h.logged(1);
  assert.equal(h.contexts[0]!.status, 200);
  assert.equal(h.contexts[0]!.llm.streamError, 'upstream_closed');
  assert.ok(errors.some((e) => e.includes('midfail')));
});

test('R-RSP-16: client disconnect aborts the upstream within 1 s (stream and non-stream)', async (t) => {
  const [m] = await setup(t, 1);
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'h', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  for (const mode of ['hang', 'stream'] as const) {
    m!.reset();
    if (mode === 'hang') m!.reply({ hang: true });
    else m!.reply({ sse: Array.from({ length: 100 }, (_, i) => ({ data: { choices: [{ delta: { content: String(i) } }] }, delayMs: 50 })) });
    const ac = new AbortController();
    const p = fetch(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: mode === 'stream' }), signal: ac.signal })
      .then(async (r) => { for await (const _ of r.body as any) { /* read */ } });
    await m!.waitFor(1);
    await new Promise((r) => setTimeout(r, 120));
    ac.abort();
    await p.catch(() => {});
    const t0 = Date.now();
    while (!m!.requests[0]!.aborted && Date.now() - t0 < 1000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(m!.requests[0]!.aborted, `${mode}: upstream aborted within 1 s`);
  }
});

test('R-REQ-10: a stream producing chunks more often than timeout never times out', async (t) => {
  const [m] = await setup(t, 1);
  m!.reply({ sse: sseChat('gpt-4', Array.from({ length: 8 }, () => 'x'), undefined, 80) });
  const h = await harness(t, aiProxyMulti, { timeout: 200, instances: [{ name: 'slow', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  const r = await fetch(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true }) });
  const text = await r.text();
  assert.ok(text.endsWith('data: [DONE]\n\n'));
});

test('R-REQ-11: keepalive reuses connections; keepalive false closes them', async (t) => {
  const [m, n] = await setup(t, 2);
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'k', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  for (let i = 0; i < 5; i++) await postJson(h.url + '/anything', CHAT);
  assert.equal(m!.connections, 1);
  const h2 = await harness(t, aiProxyMulti, { keepalive: false, instances: [{ name: 'k', provider: 'openai', weight: 1, auth: {}, override: { endpoint: n!.url } }] });
  for (let i = 0; i < 3; i++) await postJson(h2.url + '/anything', CHAT);
  assert.equal(n!.connections, 3);
});

test('R-BAL-6 R-BAL-7: chash on a header pins a key to one instance', async (t) => {
  const mocks = await setup(t, 3);
  const h = await harness(t, aiProxyMulti, {
    balancer: { algorithm: 'chash', hash_on: 'header', key: 'x_user' },
    instances: mocks.map((m, i) => ({ name: `i${i}`, provider: 'openai', weight: 1, auth: {}, override: { endpoint: m.url } })),
  });
  for (const user of ['alice', 'bob', 'carol']) {
    const before = mocks.map((m) => m.count());
    for (let i = 0; i < 3; i++) await postJson(h.url + '/anything', CHAT, { 'x-user': user });
    const delta = mocks.map((m, i) => m.count() - before[i]!);
    assert.equal(delta.filter((d) => d === 3).length, 1, `${user}: ${delta}`);
  }
});

test('R-AP-4 R-PIPE-9: ai-proxy is a one-instance ai-proxy-multi named ai-proxy-<provider>; inactive when ai-proxy-multi is present', async (t) => {
  const [m] = await setup(t, 1);
  const h = await harness(t, aiProxy, { provider: 'openai', auth: auth('k'), options: { model: 'gpt-4o' }, override: { endpoint: m!.url } });
  const r = await postJson(h.url + '/v1/chat/completions', { ...CHAT, model: 'client-model' });
  assert.equal(r.status, 200);
  assert.equal(r.json.model, 'gpt-4o');
  const ctx = h.contexts[0]!;
  assert.equal(ctx.llm.instanceName, 'ai-proxy-openai');
  assert.equal(ctx.llm.requestModel, 'client-model');
  assert.equal(ctx.llm.provider, 'openai');
  const h2 = await harness(t, aiProxy, { provider: 'openai', auth: {}, override: { endpoint: m!.url } }, { otherPlugins: ['ai-proxy-multi'] });
  const before = m!.count();
  const r2 = await postJson(h2.url + '/anything', CHAT);
  assert.equal(r2.status, 500, 'harness answers 500 when no plugin handled the request');
  assert.equal(m!.count(), before);
});

test('R-RSP-4 R-RSP-5: non-JSON bodies relayed unchanged; ttft = upstream response time for non-streams', async (t) => {
  const [m] = await setup(t, 1);
  m!.reply({ status: 200, body: 'plain words', delayMs: 30 });
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'p', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  const r = await postJson(h.url + '/anything', CHAT);
  assert.equal(r.text, 'plain words');
  assert.equal(r.headers.get('content-type'), 'text/plain');
  const ctx = h.contexts[0]!;
  assert.equal(ctx.llm.totalTokens, 0);
  assert.ok(ctx.llm.timeToFirstTokenMs >= 25);
  assert.equal(ctx.llm.timeToFirstTokenMs, ctx.llm.upstreamResponseTimeMs);
});

test('R-BAL-6: chash keys from consumer, cookie, arg_ vars and templates; missing key falls back to the client IP', async (t) => {
  const mocks = await setup(t, 3);
  const conf = (balancer: any) => ({ balancer: { algorithm: 'chash', ...balancer }, instances: mocks.map((m, i) => ({ name: `i${i}`, provider: 'openai', weight: 1, auth: {}, override: { endpoint: m.url } })) });
  const served = async (h: Harness, headers: Record<string, string> = {}, q = '') => {
    const before = mocks.map((m) => m.count());
    await postJson(h.url + '/anything' + q, CHAT, headers);
    return mocks.findIndex((m, i) => m.count() > before[i]!);
  };
  const pinned = async (h: Harness, headers: Record<string, string> = {}, q = '') => {
    const first = await served(h, headers, q);
    for (let i = 0; i < 3; i++) assert.equal(await served(h, headers, q), first);
  };
  await pinned(await harness(t, aiProxyMulti, conf({ hash_on: 'consumer' }), { consumer: 'john' }));
  await pinned(await harness(t, aiProxyMulti, conf({ hash_on: 'cookie', key: 'session' })), { cookie: 'a=1; session=xyz' });
  await pinned(await harness(t, aiProxyMulti, conf({ key: 'arg_user' })), {}, '?user=carol');
  await pinned(await harness(t, aiProxyMulti, conf({ hash_on: 'vars_combinations', key: '$arg_user-$arg_team' })), {}, '?user=a&team=b');
  await pinned(await harness(t, aiProxyMulti, conf({ hash_on: 'header', key: 'x-missing' })));
});

test('R-VAR-2 R-RSP-14 R-USG-2: options.stream makes the request ai_stream; a stream without usage is estimated with the tokenizer, no response text', async (t) => {
  const [m] = await setup(t, 1);
  m!.reply({ sse: sseChat('gpt-4', ['a'], null) });
  const h = await harness(t, aiProxyMulti, { logging: { payloads: true }, instances: [{ name: 's', provider: 'openai', weight: 1, auth: {}, options: { stream: true }, override: { endpoint: m!.url } }] });
  const r = await postJson(h.url + '/anything', CHAT);
  assert.match(r.text, /\[DONE\]/);
  await h.logged(1);
  const llm = h.contexts[0]!.llm;
  assert.equal(llm.requestType, 'ai_stream');
  const p = getEncoding('o200k_base').encode(promptText(CHAT)).length;
  assert.deepEqual([llm.promptTokens, llm.completionTokens, llm.totalTokens, llm.usageSource, llm.responseText], [p, 1, p + 1, 'estimated', undefined]);
  assert.deepEqual(m!.requests[0]!.body.stream_options, { include_usage: true });
});

test('R-REQ-3 R-FB-5: an unsupported protocol is not subject to fallback', async (t) => {
  const [a, b] = await setup(t, 2);
  const h = await harness(t, aiProxyMulti, {
    fallback_strategy: ['http_429', 'http_5xx'],
    instances: [
      { name: 'ds', provider: 'deepseek', weight: 1, priority: 1, auth: {}, override: { endpoint: a!.url } },
      { name: 'oa', provider: 'openai', weight: 1, auth: {}, override: { endpoint: b!.url } },
    ],
  });
  const r = await postJson(h.url + '/anything', { input: 'x' });
  assert.equal(r.status, 400);
  assert.equal(r.text, 'provider deepseek does not support openai-embeddings protocol (supported: openai-chat)');
  assert.equal(a!.count() + b!.count(), 0);
});

test('R-REQ-7: a client `Expect: 100-continue` (curl, bodies over 1 KiB) is served and not forwarded', async (t) => {
  const [m] = await setup(t, 1);
  const h = await harness(t, aiProxyMulti, { instances: [{ name: 'e', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m!.url } }] });
  const payload = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(4000) }] });
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(h.url + '/anything', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), expect: '100-continue' } }, (resp) => { resp.resume(); resolve(resp.statusCode!); });
    req.on('continue', () => req.end(payload));
    req.on('error', reject);
  });
  assert.equal(status, 200);
  assert.equal(m!.requests[0]!.headers.expect, undefined);
  assert.equal(m!.requests[0]!.body.messages[0].content.length, 4000);
});
