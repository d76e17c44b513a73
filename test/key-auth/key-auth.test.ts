import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { plugins } from '../../src/plugins/registry.js';
import type { PluginDef } from '../../src/core/types.js';
import { keyAuth } from '../../src/plugins/key-auth/index.js';
import { validateSchema } from '../../src/schema/validate.js';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, startUpstream, req } from '../proxy/harness.js';

// a test plugin to observe consumer plugin merging (R-PIPE-6, R-KA-9)
const seen: string[] = [];
const tag: PluginDef = {
  name: 't-tag',
  priority: 1500,
  schema: { type: 'object', properties: { v: { type: 'string' } } },
  rewrite(_ctx, c) {
    seen.push('rewrite:' + c.v);
  },
  access(ctx, c) {
    seen.push('access:' + c.v);
    ctx.extraResponseHeaders['x-tag'] = c.v;
  },
};
(plugins as Map<string, PluginDef>).set('t-tag', tag);

process.env.SWITCHYARD_TEST_KA = 'env-key-value';
process.env.SWITCHYARD_TEST_KA_JSON = JSON.stringify({ sub: 'json-sub-key' });

const up = await startUpstream();
const h = await startHarness({
  '/apisix/consumers/johndoe': { username: 'johndoe', labels: { custom_id: 'cust-1' }, plugins: { 't-tag': { v: 'john' } } },
  '/apisix/consumers/johndoe/credentials/cred-john-key-auth': { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'john-key' } } },
  '/apisix/consumers/janedoe': { username: 'janedoe', plugins: { 'key-auth': { key: 'jane-key' } } },
  '/apisix/consumers/envuser': { username: 'envuser', plugins: { 'key-auth': { key: '$env://SWITCHYARD_TEST_KA' } } },
  '/apisix/consumers/envjson': { username: 'envjson', plugins: { 'key-auth': { key: '$ENV://SWITCHYARD_TEST_KA_JSON/sub' } } },
  '/apisix/consumers/anon': { username: 'anon', plugins: { 't-tag': { v: 'anon' } } },
  '/apisix/routes/ka': { uri: '/ka', plugins: { 'key-auth': {}, 't-tag': { v: 'route' } }, upstream: { nodes: { [up.hostPort]: 1 } } },
  '/apisix/routes/ka-hide': { uri: '/hide', plugins: { 'key-auth': { hide_credentials: true, header: 'X-Key', query: 'k' } }, upstream: { nodes: { [up.hostPort]: 1 } } },
  '/apisix/routes/ka-sdk': { uri: '/sdk/*', plugins: { 'key-auth': {} }, upstream: { nodes: { [up.hostPort]: 1 } } },
  '/apisix/routes/ka-sdk-hide': { uri: '/sdkh/*', plugins: { 'key-auth': { hide_credentials: true } }, upstream: { nodes: { [up.hostPort]: 1 } } },
  '/apisix/routes/ka-anon': { uri: '/anon', plugins: { 'key-auth': { anonymous_consumer: 'anon' } }, upstream: { nodes: { [up.hostPort]: 1 } } },
  '/apisix/routes/ka-anon-missing': { uri: '/anon-missing', plugins: { 'key-auth': { anonymous_consumer: 'ghost', realm: 'r1' } }, upstream: { nodes: { [up.hostPort]: 1 } } },
});
after(async () => {
  await h.close();
  await up.close();
});

test('R-KA-1 R-KA-2 schemas: defaults, realm constraint, consumer schema requires key', () => {
  const v = validateSchema(keyAuth.schema, {});
  assert.ok(v.ok);
  assert.deepEqual(v.ok && v.value, { header: 'apikey', query: 'apikey', hide_credentials: false, realm: 'key' });
  assert.equal(validateSchema(keyAuth.schema, { realm: 'a"b' }).ok, false);
  assert.equal(validateSchema(keyAuth.schema, { anonymous_consumer: '' }).ok, false);
  assert.equal(validateSchema(keyAuth.consumerSchema!, {}).ok, false);
  assert.ok(validateSchema(keyAuth.consumerSchema!, { key: 'k' }).ok);
  assert.equal(keyAuth.priority, 2500);
  assert.equal(keyAuth.type, 'auth');
});

test('R-KA-5 missing and invalid keys answer 401 with WWW-Authenticate', async () => {
  let r = await req(h.url + '/ka');
  assert.equal(r.status, 401);
  assert.equal(r.text, '{"message":"Missing API key in request"}\n');
  assert.equal(r.headers.get('www-authenticate'), 'apikey realm="key"');
  r = await req(h.url + '/ka', { headers: { apikey: 'nope' } });
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { message: 'Invalid API key in request' });
  r = await req(h.url + '/ka', { headers: { apikey: '' } });
  assert.equal(r.status, 401, 'R-KA-3 an empty header is a key (invalid)');
  assert.deepEqual(r.json, { message: 'Invalid API key in request' });
});

test('R-KA-3 R-KA-7 header key via credential: consumer headers set, client values replaced', async () => {
  const r = await req(h.url + '/ka', { headers: { APIKEY: 'john-key', 'x-consumer-username': 'spoof', 'x-credential-identifier': 'spoof' } });
  assert.equal(r.status, 200);
  const hd = r.json.headers;
  assert.equal(hd['x-consumer-username'], 'johndoe');
  assert.equal(hd['x-credential-identifier'], 'cred-john-key-auth');
  assert.equal(hd['x-consumer-custom-id'], 'cust-1');
  assert.equal(hd.apikey, 'john-key', 'not hidden by default');
  assert.equal(h.logged.at(-1)!.getVar('consumer_name'), 'johndoe');
});

test('R-KA-3 query key when the header is absent; consumer plugin key without credential', async () => {
  const r = await req(h.url + '/ka?apikey=jane-key', { headers: { 'x-consumer-custom-id': 'spoof' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'janedoe');
  assert.equal(r.json.headers['x-credential-identifier'], undefined);
  assert.equal(r.json.headers['x-consumer-custom-id'], undefined);
  // header wins over query
  const r2 = await req(h.url + '/ka?apikey=jane-key', { headers: { apikey: 'bad' } });
  assert.equal(r2.status, 401);
});

test('R-KA-6 hide_credentials removes the header or the query argument', async () => {
  let r = await req(h.url + '/hide?a=1', { headers: { 'x-key': 'john-key' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-key'], undefined);
  assert.equal(r.json.url, '/hide?a=1');
  r = await req(h.url + '/hide?a=1&k=jane-key&b=2');
  assert.equal(r.status, 200);
  assert.equal(r.json.url, '/hide?a=1&b=2');
});

test('R-KA-8 anonymous_consumer attached on missing/unknown key; missing anonymous consumer answers 401', async () => {
  let r = await req(h.url + '/anon');
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'anon');
  assert.equal(r.headers.get('x-tag'), 'anon', 'its plugins apply');
  r = await req(h.url + '/anon', { headers: { apikey: 'john-key' } });
  assert.equal(r.json.headers['x-consumer-username'], 'johndoe');
  r = await req(h.url + '/anon-missing');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { message: 'Invalid user authorization' });
  assert.equal(r.headers.get('www-authenticate'), 'apikey realm="r1"');
});

test('R-SEC-1 $env:// key references (and /SUBKEY) are resolved', async () => {
  let r = await req(h.url + '/ka', { headers: { apikey: 'env-key-value' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'envuser');
  r = await req(h.url + '/ka', { headers: { apikey: 'json-sub-key' } });
  assert.equal(r.json.headers['x-consumer-username'], 'envjson');
  process.env.SWITCHYARD_TEST_KA = 'rotated';
  r = await req(h.url + '/ka', { headers: { apikey: 'rotated' } });
  assert.equal(r.status, 200, 'resolved at request time');
});

test('R-PIPE-6 R-KA-9 consumer plugins replace the route plugin of the same name; rewrite of consumer plugins runs', async () => {
  seen.length = 0;
  const r = await req(h.url + '/ka', { headers: { apikey: 'john-key' } });
  assert.equal(r.headers.get('x-tag'), 'john');
  assert.deepEqual(seen, ['rewrite:route', 'rewrite:john', 'access:john']);
  seen.length = 0;
  const r2 = await req(h.url + '/ka', { headers: { apikey: 'jane-key' } });
  assert.equal(r2.headers.get('x-tag'), 'route');
  // R-KA-9: changing the consumer's plugins applies to the next request (R-GEN-10)
  h.store.putSync('/apisix/consumers/johndoe', { username: 'johndoe', plugins: { 't-tag': { v: 'john2' } } });
  const r3 = await req(h.url + '/ka', { headers: { apikey: 'john-key' } });
  assert.equal(r3.headers.get('x-tag'), 'john2');
  assert.equal(r3.json.headers['x-consumer-custom-id'], undefined, 'labels removed');
});

test('R-KA-4 duplicate keys: the entry whose item key sorts first wins', async () => {
  h.store.putSync('/apisix/consumers/aaa', { username: 'aaa', plugins: { 'key-auth': { key: 'dup' } } });
  h.store.putSync('/apisix/consumers/bbb', { username: 'bbb', plugins: { 'key-auth': { key: 'dup' } } });
  const r = await req(h.url + '/ka', { headers: { apikey: 'dup' } });
  assert.equal(r.json.headers['x-consumer-username'], 'aaa');
});

test('R-KA-10 R-RTE-7 key-auth in a global rule answers 401 even when no route matches', async () => {
  h.store.putSync('/apisix/global_rules/1', { plugins: { 'key-auth': {} } });
  try {
    let r = await req(h.url + '/no-route');
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { message: 'Missing API key in request' });
    r = await req(h.url + '/no-route', { headers: { apikey: 'jane-key' } });
    assert.equal(r.status, 404);
    assert.equal(r.text, '{"error_msg":"404 Route Not Found"}\n');
  } finally {
    h.store.deleteSync(['/apisix/global_rules/1']);
  }
});

test('R-KA-20 Authorization: Bearer and x-api-key are read when apikey/query carry none', async () => {
  let r = await req(h.url + '/ka', { headers: { authorization: 'Bearer jane-key' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'janedoe');
  assert.equal(r.json.headers.authorization, 'Bearer jane-key', 'not hidden by default');
  r = await req(h.url + '/ka', { headers: { 'x-api-key': 'john-key' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'johndoe');
  r = await req(h.url + '/ka', { headers: { apikey: 'jane-key', authorization: 'Bearer john-key' } });
  assert.equal(r.json.headers['x-consumer-username'], 'janedoe', 'the configured header wins');
  r = await req(h.url + '/ka', { headers: { authorization: 'Bearer nope' } });
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { message: 'Invalid API key in request' });
  r = await req(h.url + '/ka', { headers: { authorization: 'Basic abc' } });
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { message: 'Missing API key in request' });
  r = await req(h.url + '/sdkh/x', { headers: { authorization: 'Bearer jane-key', 'x-api-key': 'other' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers.authorization, undefined, 'hide_credentials removes the Bearer header that carried it');
  assert.equal(r.json.headers['x-api-key'], 'other', 'only the carrier is removed');
  r = await req(h.url + '/sdkh/x', { headers: { 'x-api-key': 'john-key' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-api-key'], undefined);
});

test('R-KA-20 the official openai and @anthropic-ai/sdk clients authenticate with a consumer key', async () => {
  const oa = new OpenAI({ apiKey: 'jane-key', baseURL: h.url + '/sdk/v1', maxRetries: 0 });
  const got = (await oa.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })) as unknown as { headers: Record<string, string> };
  assert.equal(got.headers['x-consumer-username'], 'janedoe');
  const an = new Anthropic({ apiKey: 'john-key', baseURL: h.url + '/sdk', maxRetries: 0 });
  const got2 = (await an.messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })) as unknown as { headers: Record<string, string> };
  assert.equal(got2.headers['x-consumer-username'], 'johndoe');
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: h.url + '/sdk/v1', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }), (e: { status?: number }) => e.status === 401);
});
