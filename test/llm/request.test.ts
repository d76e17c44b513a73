import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeStrategy } from '../../src/llm/engine.js';
import { buildBody, buildHeaders } from '../../src/llm/request.js';
import { detectProtocol } from '../../src/llm/protocols/index.js';
import { compileInstance, resolveTarget, parseEndpoint } from '../../src/llm/instance.js';
import { getProvider, targetProtocol } from '../../src/llm/providers/index.js';
import { GcpTokenCache } from '../../src/llm/providers/gcp-token.js';

const TOKENS = new GcpTokenCache();
const T = { timeout: 1000, keepalive: true, keepalive_timeout: 60000, keepalive_pool: 30, ssl_verify: true };
const inst = (o: any) => compileInstance({ name: 'x', weight: 1, auth: {}, ...o }, 0, T, 'k', TOKENS);

test('R-REQ-2: protocol detection', () => {
  assert.equal(detectProtocol('/v1/messages', { messages: [] }), 'anthropic-messages');
  assert.equal(detectProtocol('/x/v1/messages', {}), 'anthropic-messages');
  assert.equal(detectProtocol('/v1/responses', { input: 'hi' }), 'openai-responses');
  assert.equal(detectProtocol('/v1/responses', { messages: [] }), 'openai-chat');
  assert.equal(detectProtocol('/anything', { messages: [] }), 'openai-chat');
  assert.equal(detectProtocol('/anything', { messages: {} }), 'openai-chat');
  assert.equal(detectProtocol('/anything', { input: null }), 'openai-embeddings');
  assert.equal(detectProtocol('/anything', { prompt: 'x' }), undefined);
  assert.equal(detectProtocol('/v1/messages', [1]), undefined);
  assert.equal(detectProtocol('/anything', 'str'), undefined);
});

test('R-REQ-3: target protocol or the exact unsupported text', () => {
  assert.deepEqual(targetProtocol(getProvider('openai'), 'openai-embeddings'), { target: 'openai-embeddings', converted: false });
  assert.deepEqual(targetProtocol(getProvider('deepseek'), 'openai-embeddings'), { error: 'provider deepseek does not support openai-embeddings protocol (supported: openai-chat)' });
  assert.deepEqual(targetProtocol(getProvider('deepseek'), 'anthropic-messages'), { target: 'openai-chat', converted: true });
  assert.deepEqual(targetProtocol(getProvider('anthropic'), 'anthropic-messages'), { target: 'anthropic-messages', converted: false });
  assert.deepEqual(targetProtocol(getProvider('vertex-ai'), 'openai-embeddings'), { target: 'vertex-predict', converted: true });
  assert.deepEqual(targetProtocol(getProvider('azure-openai'), 'openai-embeddings'), { target: 'openai-embeddings', converted: false });
  assert.ok('error' in targetProtocol(getProvider('gemini'), 'openai-responses'));
});

test('R-REQ-4/R-REQ-9/R-PRV-5: options replace top-level members, client body untouched, stream_options marker, azure drops model', () => {
  const client = { model: 'c', max_tokens: 500, messages: [], extra: { a: 1 } };
  const copy = structuredClone(client);
  const i1 = inst({ provider: 'openai', options: { model: 'gpt-4', max_tokens: 50, extra: { b: 2 } } });
  const out = buildBody(client, i1, 'openai-chat');
  assert.deepEqual(out, { model: 'gpt-4', max_tokens: 50, messages: [], extra: { b: 2 } });
  assert.deepEqual(client, copy, 'original client body unchanged');
  const i2 = inst({ provider: 'deepseek' });
  assert.equal(buildBody(client, i2, 'openai-chat'), client, 'no change -> same object (raw bytes forwarded)');
  const s = buildBody({ messages: [], stream: true, stream_options: { x: 1 } }, i2, 'openai-chat');
  assert.deepEqual(s.stream_options, { include_usage: true });
  const s2 = buildBody({ messages: [] }, inst({ provider: 'openai', options: { stream: true } }), 'openai-chat');
  assert.deepEqual(s2.stream_options, { include_usage: true }, 'after merging (switchyard)');
  assert.equal(buildBody({ input: 'x', stream: true }, i2, 'openai-responses').stream_options, undefined);
  const az = inst({ provider: 'azure-openai', options: { model: 'm' } });
  assert.ok(!('model' in buildBody({ model: 'c', input: 'x' }, az, 'openai-embeddings')));
  assert.deepEqual(buildBody({ a: [], b: {}, c: null }, i2, 'openai-chat'), { a: [], b: {}, c: null }, 'R-REQ-8');
});

test('R-REQ-4: options the request already holds (same primitive values, own members, none repeated in its bytes) change nothing: same object, client bytes forwarded', () => {
  const i = inst({ provider: 'openai', options: { model: 'gpt-4', temperature: 0.2, logprobs: null } });
  const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));
  const same = { model: 'gpt-4', temperature: 0.2, logprobs: null, messages: [] };
  assert.equal(buildBody(same, i, 'openai-chat', bytes(same)), same);
  assert.notEqual(buildBody(same, i, 'openai-chat'), same, 'without the bytes it was parsed from (a converted body): merged');
  // one differing, missing, or inherited member is merged as before (a copy)
  for (const client of [{ model: 'gpt-3', temperature: 0.2, logprobs: null, messages: [] }, { model: 'gpt-4', temperature: 0.2, messages: [] }, Object.assign(Object.create({ logprobs: null }), { model: 'gpt-4', temperature: 0.2, messages: [] })]) {
    const out = buildBody(client, i, 'openai-chat', bytes(client));
    assert.notEqual(out, client);
    assert.deepEqual({ ...out }, { ...client, model: 'gpt-4', temperature: 0.2, logprobs: null });
  }
  // a member repeated in the bytes (JSON.parse kept the last, an upstream may keep the first): re-serialised
  for (const raw of ['{"model":"gpt-5","model":"gpt-4","temperature":0.2,"logprobs":null,"messages":[]}', '{"mod\\u0065l":"gpt-5","model":"gpt-4","temperature":0.2,"logprobs":null,"messages":[]}']) {
    const parsed = JSON.parse(raw);
    const out = buildBody(parsed, i, 'openai-chat', Buffer.from(raw));
    assert.notEqual(out, parsed, raw);
    assert.equal(JSON.stringify(out), '{"model":"gpt-4","temperature":0.2,"logprobs":null,"messages":[]}');
  }
  // an object value is never taken as held, even when deep-equal
  const withObj = inst({ provider: 'openai', options: { model: 'gpt-4', stop: ['x'] } });
  const c2 = { model: 'gpt-4', stop: ['x'], messages: [] };
  assert.notEqual(buildBody(c2, withObj, 'openai-chat', bytes(c2)), c2);
  // a stream still gets its stream_options (R-REQ-9)
  const st = { model: 'gpt-4', temperature: 0.2, logprobs: null, messages: [], stream: true };
  assert.deepEqual(buildBody(st, i, 'openai-chat', bytes(st)).stream_options, { include_usage: true });
});

test('R-REQ-6/R-PRV-1/R-PRV-4: endpoint resolution with query merge', () => {
  const e = inst({ provider: 'openai', auth: { query: { api_key: 'apikey', some_query: 'no' } }, override: { endpoint: 'http://localhost:6724/test/params/in/overridden/endpoint?some_query=yes' } });
  const t = resolveTarget(e, 'openai-chat', '')!;
  assert.equal(t.origin, 'http://localhost:6724');
  const u = new URL('http://h' + t.pathWithQuery);
  assert.equal(u.pathname, '/test/params/in/overridden/endpoint');
  assert.equal(u.searchParams.get('api_key'), 'apikey');
  assert.equal(u.searchParams.get('some_query'), 'yes');
  const d = resolveTarget(inst({ provider: 'deepseek' }), 'openai-chat', '')!;
  assert.deepEqual([d.origin, d.pathWithQuery, d.hostHeader], ['https://api.deepseek.com', '/chat/completions', 'api.deepseek.com']);
  const np = resolveTarget(inst({ provider: 'openai', override: { endpoint: 'http://127.0.0.1:9999' } }), 'openai-embeddings', '')!;
  assert.equal(np.pathWithQuery, '/v1/embeddings');
  assert.equal(np.hostHeader, '127.0.0.1:9999');
  const slash = resolveTarget(inst({ provider: 'openai', override: { endpoint: 'https://h/' } }), 'openai-chat', '')!;
  assert.equal(slash.pathWithQuery, '/');
  assert.equal(slash.origin, 'https://h');
  assert.equal(resolveTarget(inst({ provider: 'openai-compatible' }), 'openai-chat', ''), undefined, 'R-PRV-3');
  const vx = inst({ provider: 'vertex-ai', provider_conf: { project_id: 'p', region: 'us-central1' } });
  assert.equal(resolveTarget(vx, 'openai-chat', 'g')!.origin, 'https://us-central1-aiplatform.googleapis.com');
  assert.equal(resolveTarget(vx, 'openai-chat', 'g')!.pathWithQuery, '/v1beta1/projects/p/locations/us-central1/endpoints/openapi/chat/completions');
  assert.equal(resolveTarget(vx, 'vertex-predict', 'text-embedding-005')!.pathWithQuery, '/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:predict');
  const pa = getProvider('openrouter');
  assert.equal(pa.paths['openai-chat'], '/api/v1/chat/completions');
  assert.equal(parseEndpoint('ftp://x'), undefined);
});

test('R-REQ-7/R-SEC-2: outgoing headers: hop-by-hop removed, auth replaces client header, $env refs resolved', () => {
  process.env.SWY_TEST_KEY = 'sk-from-env';
  process.env.SWY_TEST_AUTH = 'Bearer sk-from-env';
  const i = inst({ provider: 'openai', auth: { header: { Authorization: '$env://SWY_TEST_AUTH' }, query: { k: '$ENV://SWY_TEST_KEY' } } });
  const h = buildHeaders({ host: 'gw', 'content-length': '5', connection: 'keep-alive', 'accept-encoding': 'gzip', authorization: 'Bearer client', 'x-consumer-username': 'john', 'content-type': 'application/json; charset=utf-8', te: 'trailers' }, i);
  assert.deepEqual(h, { authorization: 'Bearer sk-from-env', 'x-consumer-username': 'john', 'content-type': 'application/json' });
  const t = resolveTarget(i, 'openai-chat', '')!;
  assert.equal(t.pathWithQuery, '/v1/chat/completions?k=sk-from-env');
});

test('R-FB-1: fallback_strategy normalization', () => {
  assert.deepEqual([...normalizeStrategy(undefined)], []);
  assert.deepEqual([...normalizeStrategy([])], []);
  assert.deepEqual([...normalizeStrategy('instance_health_and_rate_limiting')], ['rate_limiting']);
  assert.deepEqual([...normalizeStrategy('http_429')], ['http_429']);
  assert.deepEqual([...normalizeStrategy(['http_429', 'http_5xx'])], ['http_429', 'http_5xx']);
});
