// R-ERR-1: errors the gateway itself answers on AI routes come in the client
// protocol's error shape (keeping APISIX's error_msg), so the official SDKs
// show their message; relayed upstream errors and `_meta.error_response` are
// sent unchanged, and non-AI routes keep APISIX's bodies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';

test('R-ERR-1 gateway errors in the OpenAI and Anthropic error shapes, shown by the SDKs', { timeout: 40_000 }, async (t) => {
  const mock = await startMockLlm();
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await mock.close(); });
  const ok = (r: { status: number; text: string }) => assert.ok(r.status < 300, r.text);
  ok(await gw.admin('PUT', '/apisix/admin/consumers', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key' } } }));
  const instance = { name: 'oa', provider: 'openai-compatible', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url + '/v1/chat/completions' } };
  ok(await gw.admin('PUT', '/apisix/admin/routes/ai', {
    uri: '/v1/*',
    plugins: {
      'key-auth': {},
      'ai-proxy-multi': { instances: [instance] },
      'ai-rate-limiting': { limit: 1, time_window: 60, rejected_code: 429, rejected_msg: 'token quota exceeded' },
    },
  }));

  // OpenAI: key-auth's 401 (answered before the body is read)
  const anonymous = new OpenAI({ apiKey: 'unused', baseURL: gw.proxyUrl + '/v1', maxRetries: 0 });
  const chat = { model: 'x', messages: [{ role: 'user' as const, content: 'hi' }] };
  await assert.rejects(anonymous.chat.completions.create(chat), (e: any) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
    assert.equal(e.status, 401);
    assert.equal(e.message, '401 Invalid API key in request'); // the SDK's Bearer token is not alice's key
    assert.equal(e.code, 'invalid_api_key');
    return true;
  });
  let res = await fetch(gw.proxyUrl + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(await res.json(), {
    message: 'Missing API key in request',
    error_msg: 'Missing API key in request',
    error: { message: 'Missing API key in request', type: 'invalid_request_error', code: 'invalid_api_key' },
  });

  // OpenAI: ai-rate-limiting's 429 after the first answer used the quota
  const alice = new OpenAI({ apiKey: 'unused', baseURL: gw.proxyUrl + '/v1', maxRetries: 0, defaultHeaders: { apikey: 'alice-key' } });
  const first = await alice.chat.completions.create(chat);
  assert.equal(first.choices[0]!.message.content, '1+1 equals 2.');
  await assert.rejects(alice.chat.completions.create(chat), (e: any) => {
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    assert.equal(e.message, '429 token quota exceeded');
    assert.equal(e.type, 'rate_limit_error');
    return true;
  });

  // Anthropic: the same 401 and 429 in the Anthropic shape
  const anthAnon = new Anthropic({ apiKey: 'unused', baseURL: gw.proxyUrl, maxRetries: 0 });
  const msg = { model: 'claude-x', max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };
  await assert.rejects(anthAnon.messages.create(msg), (e: any) => {
    assert.ok(e instanceof Anthropic.AuthenticationError, String(e));
    const body: any = e.error;
    assert.equal(body.type, 'error');
    assert.deepEqual(body.error, { type: 'authentication_error', message: 'Invalid API key in request' });
    assert.match(e.message, /Invalid API key in request/);
    return true;
  });
  const anthAlice = new Anthropic({ apiKey: 'unused', baseURL: gw.proxyUrl, maxRetries: 0, defaultHeaders: { apikey: 'alice-key' } });
  await assert.rejects(anthAlice.messages.create(msg), (e: any) => {
    assert.ok(e instanceof Anthropic.RateLimitError, String(e));
    assert.deepEqual(e.error, { error_msg: 'token quota exceeded', type: 'error', error: { type: 'rate_limit_error', message: 'token quota exceeded' } });
    assert.match(e.message, /token quota exceeded/);
    return true;
  });

  // an upstream failure: the gateway's 500 page becomes a JSON error; a relayed upstream error stays as it was
  ok(await gw.admin('PUT', '/apisix/admin/routes/down', {
    uri: '/down/v1/*',
    plugins: { 'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: 'http://127.0.0.1:1/v1/chat/completions' } } },
  }));
  const down = new OpenAI({ apiKey: 'unused', baseURL: gw.proxyUrl + '/down/v1', maxRetries: 0 });
  await assert.rejects(down.chat.completions.create(chat), (e: any) => {
    assert.ok(e instanceof OpenAI.InternalServerError, String(e));
    assert.equal(e.status, 500); // APISIX answers a refused connection 500
    assert.equal(e.message, '500 500 Internal Server Error');
    assert.equal(e.type, 'server_error');
    return true;
  });
  ok(await gw.admin('PUT', '/apisix/admin/routes/relay', {
    uri: '/relay/v1/*',
    plugins: { 'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: mock.url + '/v1/chat/completions' } } },
  }));
  mock.reply({ status: 500, json: { error: { message: 'upstream exploded', type: 'server_error' } } });
  res = await fetch(gw.proxyUrl + '/relay/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: { message: 'upstream exploded', type: 'server_error' } });

  // `_meta.error_response` still wins
  ok(await gw.admin('PUT', '/apisix/admin/routes/custom', {
    uri: '/custom/v1/*',
    plugins: {
      'key-auth': { _meta: { error_response: { oops: 'custom' } } },
      'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: mock.url + '/v1/chat/completions' } },
    },
  }));
  res = await fetch(gw.proxyUrl + '/custom/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { oops: 'custom' });

  // a route without an AI plugin keeps APISIX's body
  ok(await gw.admin('PUT', '/apisix/admin/routes/plain', {
    uri: '/plain/v1/*',
    plugins: { 'key-auth': {} },
    upstream: { type: 'roundrobin', nodes: { [new URL(mock.url).host]: 1 } },
  }));
  res = await fetch(gw.proxyUrl + '/plain/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat) });
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { message: 'Missing API key in request' });
});
