// ai-proxy-multi / ai-proxy end to end through the real CLI (one gateway
// process for the file) against mock LLM servers, including the official
// openai and @anthropic-ai/sdk clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, sseChat, type MockLlm } from '../helpers/mock-llm.js';

const CHAT = { messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] };
let gw: GatewayProcess;
let oa: MockLlm;
let ds: MockLlm;
let m429: MockLlm;
let m500: MockLlm;

const auth = (k: string) => ({ header: { Authorization: `Bearer ${k}` } });

before(async () => {
  [oa, ds, m429, m500] = await Promise.all([startMockLlm(), startMockLlm(), startMockLlm(), startMockLlm()]);
  m429.reply({ status: 429, json: { error: 'rate limited' } });
  m500.reply({ status: 500, json: { error: 'boom' } });
  gw = await startGateway({
    config: {
      nginx_config: {
        http: {
          access_log_format: '$remote_addr "$request" $status $balancer_ip "$request_type" "$llm_time_to_first_token" "$llm_model" "$request_llm_model"  "$llm_prompt_tokens" "$llm_completion_tokens" $upstream_status',
        },
      },
    },
  });
});

after(async () => {
  await gw?.stop();
  await Promise.all([oa, ds, m429, m500].map((m) => m?.close()));
});

async function putRoute(id: string, body: Record<string, unknown>): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, body);
  assert.ok(r.status === 200 || r.status === 201, `PUT route ${id}: ${r.status} ${r.text}`);
}

async function post(p: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(gw.proxyUrl + p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { /* not json */ }
  return { status: r.status, headers: r.headers, text, json };
}

function accessLines(): string[] {
  try {
    return readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

async function waitLines(pred: (l: string) => boolean, n: number): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    const ls = accessLines().filter(pred);
    if (ls.length >= n || Date.now() - t0 > 3000) return ls;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('R-SCN-1 R-BAL-4 R-BAL-10: seed route, 10 requests split exactly 8:2; mock sees auth, path and model', async () => {
  oa.reset();
  ds.reset();
  await putRoute('ai-proxy-multi-route', {
    id: 'ai-proxy-multi-route',
    uri: '/anything',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 8, auth: auth('oa-key'), options: { model: 'gpt-4' }, override: { endpoint: oa.url } },
          { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: auth('ds-key'), options: { model: 'deepseek-chat' }, override: { endpoint: ds.url } },
        ],
      },
    },
  });
  const models: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await post('/anything', CHAT);
    assert.equal(r.status, 200, r.text);
    models.push(r.json.model);
    assert.equal(r.headers.get('x-ai-instance'), null, 'R-RSP-6: no instance header');
  }
  assert.equal(models.filter((m) => m === 'gpt-4').length, 8);
  assert.equal(models.filter((m) => m === 'deepseek-chat').length, 2);
  assert.equal(oa.requests[0]!.path, '/v1/chat/completions');
  assert.equal(oa.requests[0]!.headers.authorization, 'Bearer oa-key');
  assert.equal(oa.requests[0]!.body.model, 'gpt-4');
  assert.equal(ds.requests[0]!.path, '/chat/completions');
  const lines = await waitLines((l) => l.includes('"POST /anything HTTP/1.1"'), 10);
  assert.ok(lines.length >= 10, `access log lines: ${lines.length}`);
  assert.ok(lines.some((l) => / openai-instance "ai_chat" "\d+" "gpt-4" ""  "23" "8" 200$/.test(l)), lines[0]);
  assert.ok(lines.some((l) => l.includes(' deepseek-instance "ai_chat"')));
});

test('R-SCN-4 R-REQ-4: max_tokens via options per instance, client value replaced', async () => {
  oa.reset();
  ds.reset();
  await putRoute('max-tokens', {
    uri: '/max-tokens',
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 0, auth: auth('a'), options: { model: 'gpt-4', max_tokens: 50 }, override: { endpoint: oa.url } },
          { name: 'deepseek-instance', provider: 'deepseek', weight: 0, auth: auth('b'), options: { model: 'deepseek-chat', max_tokens: 100 }, override: { endpoint: ds.url } },
        ],
      },
    },
  });
  for (let i = 0; i < 4; i++) assert.equal((await post('/max-tokens', { ...CHAT, max_tokens: 500 })).status, 200);
  assert.equal(oa.count(), 2);
  assert.equal(ds.count(), 2);
  assert.ok(oa.requests.every((r) => r.body.max_tokens === 50));
  assert.ok(ds.requests.every((r) => r.body.max_tokens === 100));
});

test('R-FB-9 R-SCN-10 R-FB-3 R-FB-4: priorities with fallback on 429 and 5xx; 502 when nothing is left', async () => {
  oa.reset();
  const inst = (name: string, m: MockLlm, priority: number, weight: number) => ({ name, provider: 'openai', priority, weight, auth: auth(name), override: { endpoint: m.url } });
  await putRoute('fallback', {
    uri: '/fallback',
    plugins: { 'ai-proxy-multi': { fallback_strategy: ['http_429', 'http_5xx'], instances: [inst('mock-429', m429, 10, 1), inst('mock-500', m500, 0, 10), inst('mock-200', oa, 0, 1)] } },
  });
  for (let i = 0; i < 3; i++) {
    const r = await post('/fallback', CHAT);
    assert.equal(r.status, 200);
  }
  assert.equal(oa.count(), 3);
  const lines = await waitLines((l) => l.includes('/fallback'), 3);
  assert.ok(lines.some((l) => l.includes(' mock-200 "ai_chat"') && l.endsWith(' 429, 500, 200')), lines.join('\n'));
  await putRoute('fallback2', {
    uri: '/fallback2',
    plugins: { 'ai-proxy-multi': { fallback_strategy: ['http_429', 'http_5xx'], instances: [inst('mock-429', m429, 10, 1), inst('mock-500', m500, 0, 1)] } },
  });
  const r = await post('/fallback2', CHAT);
  assert.equal(r.status, 502);
  assert.match(r.text, /502 Bad Gateway/);
  // no strategy: the upstream 429 is relayed with its body
  await putRoute('nofallback', {
    uri: '/nofallback',
    plugins: { 'ai-proxy-multi': { instances: [inst('mock-429', m429, 10, 1), inst('mock-200', oa, 0, 1)] } },
  });
  const r2 = await post('/nofallback', CHAT);
  assert.equal(r2.status, 429);
  assert.deepEqual(r2.json, { error: 'rate limited' });
});

test('R-SCN-5 R-PRV-5: embeddings through openai-compatible and azure-openai instances', async () => {
  oa.reset();
  ds.reset();
  await putRoute('embeddings', {
    uri: '/embeddings',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 0, auth: auth('k'), options: { model: 'text-embedding-3-small' }, override: { endpoint: `${oa.url}/v1/embeddings` } },
          { name: 'az-openai-instance', provider: 'azure-openai', weight: 0, auth: { header: { 'api-key': 'azk' } }, options: { model: 'text-embedding-3-small' }, override: { endpoint: `${ds.url}/openai/deployments/text-embedding-3-small/embeddings?api-version=2023-05-15` } },
        ],
      },
    },
  });
  for (let i = 0; i < 2; i++) {
    const r = await post('/embeddings', { input: 'hello world' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'list');
    assert.equal(r.json.usage.prompt_tokens, 2);
  }
  assert.deepEqual(oa.requests[0]!.body, { input: 'hello world', model: 'text-embedding-3-small' });
  assert.deepEqual(ds.requests[0]!.body, { input: 'hello world' });
  assert.equal(ds.requests[0]!.query['api-version'], '2023-05-15');
  const lines = await waitLines((l) => l.includes('/embeddings'), 2);
  assert.ok(lines.some((l) => l.includes('"ai_chat"') && l.includes('"2" "0"')), lines.join('\n'));
});

test('R-RSP-10 R-SCN-14 R-RSP-16: streaming bytes unchanged through the CLI; client abort reaches the upstream', async () => {
  oa.reset();
  await putRoute('stream', {
    uri: '/stream',
    plugins: { 'ai-proxy': { provider: 'openai', auth: auth('k'), options: { model: 'gpt-4' }, override: { endpoint: oa.url } } },
  });
  const events = sseChat('gpt-4', ['1+1 ', 'equals ', '2.'], { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 }, 20);
  oa.replyOnce({ sse: events });
  // the client asks for the usage chunk itself, so every byte is relayed (R-USG-1)
  const r = await fetch(gw.proxyUrl + '/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  const chunks: string[] = [];
  const dec = new TextDecoder();
  for await (const c of r.body as any) chunks.push(dec.decode(c));
  const expected = events.map((e) => `data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`).join('');
  assert.equal(chunks.join(''), expected);
  assert.ok(chunks.length >= 5, `chunks arrive separately (${chunks.length})`);
  assert.deepEqual(oa.requests[0]!.body.stream_options, { include_usage: true });
  const lines = await waitLines((l) => l.includes('/stream'), 1);
  assert.ok(lines.some((l) => l.includes(' ai-proxy-openai "ai_stream"') && l.includes('"23" "8"')), lines.join('\n'));

  oa.reset();
  oa.reply({ sse: Array.from({ length: 100 }, (_, i) => ({ data: { choices: [{ delta: { content: String(i) } }] }, delayMs: 50 })) });
  const ac = new AbortController();
  const p = fetch(gw.proxyUrl + '/stream', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true }), signal: ac.signal })
    .then(async (res) => { for await (const _ of res.body as any) { /* read */ } });
  await oa.waitFor(1);
  await new Promise((res) => setTimeout(res, 150));
  ac.abort();
  await p.catch(() => {});
  const t0 = Date.now();
  while (!oa.requests[0]!.aborted && Date.now() - t0 < 1000) await new Promise((res) => setTimeout(res, 20));
  assert.ok(oa.requests[0]!.aborted, 'upstream aborted within 1 s');
  oa.reset();
});

test('openai SDK: chat, streaming and embeddings through switchyard (R-RSP-2 R-RSP-10 R-REQ-2)', async () => {
  oa.reset();
  await putRoute('sdk-openai', {
    uris: ['/v1/chat/completions', '/v1/embeddings'],
    plugins: { 'ai-proxy': { provider: 'openai', auth: auth('upstream-key'), override: { endpoint: oa.url } } },
  });
  const client = new OpenAI({ apiKey: 'client-key', baseURL: gw.proxyUrl + '/v1', maxRetries: 0 });
  const c = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'What is 1+1?' }] });
  assert.equal(c.choices[0]!.message.content, '1+1 equals 2.');
  assert.equal(c.usage!.total_tokens, 31);
  assert.equal(oa.requests[0]!.headers.authorization, 'Bearer upstream-key', 'client key replaced');
  assert.equal(oa.requests[0]!.path, '/v1/chat/completions');
  // R-USG-1: the usage chunk reaches the SDK because it asked for it
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage: any;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, '1+1 equals 2.');
  assert.equal(usage.total_tokens, 31);
  const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
  assert.equal(e.data.length, 1);
  assert.equal(oa.requests.at(-1)!.path, '/v1/embeddings');
});

test('@anthropic-ai/sdk: messages converted to an OpenAI-style provider and passed through natively (R-REQ-20 R-REQ-21 R-REQ-22 R-REQ-23)', async () => {
  oa.reset();
  ds.reset();
  await putRoute('sdk-anthropic-convert', {
    uri: '/v1/messages',
    plugins: { 'ai-proxy-multi': { instances: [{ name: 'ds', provider: 'deepseek', weight: 1, auth: auth('ds-key'), options: { model: 'deepseek-chat' }, override: { endpoint: ds.url } }] } },
  });
  await putRoute('sdk-anthropic-native', {
    uri: '/native/v1/messages',
    plugins: { 'ai-proxy': { provider: 'anthropic', auth: { header: { 'x-api-key': 'ak', 'anthropic-version': '2023-06-01' } }, override: { endpoint: oa.url } } },
  });
  const client = new Anthropic({ apiKey: 'client', baseURL: gw.proxyUrl, maxRetries: 0 });
  const msg = await client.messages.create({ model: 'claude-x', max_tokens: 100, system: 'You are a mathematician', messages: [{ role: 'user', content: 'What is 1+1?' }] });
  assert.equal(msg.type, 'message');
  assert.equal((msg.content[0] as any).text, '1+1 equals 2.');
  assert.equal(msg.usage.input_tokens, 23);
  assert.equal(ds.requests[0]!.path, '/chat/completions');
  assert.equal(ds.requests[0]!.body.messages[0].role, 'system');
  assert.equal(ds.requests[0]!.body.model, 'deepseek-chat');
  const stream = client.messages.stream({ model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'What is 1+1?' }] });
  let text = '';
  stream.on('text', (t) => (text += t));
  const final = await stream.finalMessage();
  assert.equal(text, '1+1 equals 2.');
  assert.equal(final.usage.output_tokens, 8);
  // native passthrough
  const native = new Anthropic({ apiKey: 'client', baseURL: gw.proxyUrl + '/native', maxRetries: 0 });
  const n = await native.messages.create({ model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal((n.content[0] as any).text, '1+1 equals 2.');
  assert.equal(oa.requests[0]!.path, '/v1/messages');
  assert.equal(oa.requests[0]!.headers['x-api-key'], 'ak');
  assert.equal(oa.requests[0]!.body.model, 'claude-x');
  const lines = await waitLines((l) => l.includes('/native/v1/messages'), 1);
  assert.ok(lines.some((l) => l.includes('"23" "8"')), lines.join('\n'));
});

test('R-SCN-2 R-FB-2 R-RL-13: priority with rate limiting: the exhausted high-priority instance is skipped; control without the strategy is rejected', async () => {
  oa.reset();
  ds.reset();
  const instances = [
    { name: 'openai-instance', provider: 'openai', priority: 1, weight: 0, auth: auth('a'), options: { model: 'gpt-4' }, override: { endpoint: oa.url } },
    { name: 'deepseek-instance', provider: 'deepseek', priority: 0, weight: 0, auth: auth('b'), options: { model: 'deepseek-chat' }, override: { endpoint: ds.url } },
  ];
  const rl = { instances: [{ name: 'openai-instance', limit: 10, time_window: 60 }], limit_strategy: 'total_tokens' };
  await putRoute('rl', { uri: '/rl', methods: ['POST'], plugins: { 'ai-proxy-multi': { fallback_strategy: ['rate_limiting'], instances }, 'ai-rate-limiting': rl } });
  const r1 = await post('/rl', CHAT);
  assert.equal(r1.status, 200);
  assert.equal(r1.json.model, 'gpt-4');
  assert.equal(r1.headers.get('x-ai-ratelimit-limit-openai-instance'), '10');
  assert.equal(r1.headers.get('x-ai-ratelimit-remaining-openai-instance'), '10');
  // the charge happens in the log phase, after the response
  await waitLines((l) => l.includes('/rl'), 1);
  const r2 = await post('/rl', CHAT);
  assert.equal(r2.status, 200);
  assert.equal(r2.json.model, 'deepseek-chat');
  assert.equal(r2.headers.get('x-ai-ratelimit-remaining-openai-instance'), '0');
  const r3 = await post('/rl', CHAT);
  assert.equal(r3.json.model, 'deepseek-chat');
  // control: same without fallback_strategy -> the rate limiter rejects the picked instance
  await putRoute('rl2', { uri: '/rl2', methods: ['POST'], plugins: { 'ai-proxy-multi': { instances }, 'ai-rate-limiting': rl } });
  assert.equal((await post('/rl2', CHAT)).status, 200);
  await waitLines((l) => l.includes('/rl2'), 1);
  const c2 = await post('/rl2', CHAT);
  assert.equal(c2.status, 503);
  assert.equal(c2.headers.get('x-ai-ratelimit-remaining-openai-instance'), '0');
});
