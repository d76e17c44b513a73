// R-MDL-1: GET <prefix>/models on a prefix route with ai-proxy-multi / ai-proxy
// answers the OpenAI model list of the instances, readable by the openai SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';

test('R-MDL-1 the openai SDK lists the instances\' models of a prefix route; exact routes and POSTs are unchanged', { timeout: 30_000 }, async (t) => {
  const mock = await startMockLlm();
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await mock.close(); });
  const instance = (name: string, model?: string) => ({
    name, provider: 'openai-compatible', weight: 1,
    auth: { header: { Authorization: 'Bearer k' } },
    ...(model ? { options: { model } } : {}),
    override: { endpoint: mock.url + '/v1/chat/completions' },
  });
  let put = await gw.admin('PUT', '/apisix/admin/routes/multi', {
    uri: '/v1/*',
    plugins: { 'ai-proxy-multi': { instances: [instance('primary', 'gpt-4o'), instance('backup', 'claude-x'), instance('same', 'gpt-4o'), instance('any')] } },
  });
  assert.ok(put.status < 300, put.text);
  put = await gw.admin('PUT', '/apisix/admin/routes/single', {
    uri: '/single/v1/*',
    plugins: { 'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'm-1' }, override: { endpoint: mock.url + '/v1/chat/completions' } } },
  });
  assert.ok(put.status < 300, put.text);
  put = await gw.admin('PUT', '/apisix/admin/routes/exact', {
    uri: '/exact/v1/models',
    plugins: { 'ai-proxy': { provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'm-2' }, override: { endpoint: mock.url + '/v1/chat/completions' } } },
  });
  assert.ok(put.status < 300, put.text);

  const client = new OpenAI({ apiKey: 'unused', baseURL: gw.proxyUrl + '/v1', maxRetries: 0 });
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.deepEqual(models.map((m) => [m.id, m.object, m.owned_by]), [['gpt-4o', 'model', 'primary'], ['claude-x', 'model', 'backup']]);
  assert.equal(typeof models[0]!.created, 'number');

  const single = new OpenAI({ apiKey: 'unused', baseURL: gw.proxyUrl + '/single/v1', maxRetries: 0 });
  const page = await single.models.list();
  assert.deepEqual(page.data.map((m) => [m.id, m.owned_by]), [['m-1', 'ai-proxy-openai-compatible']]);
  assert.equal(mock.requests.length, 0, 'the list is answered by the gateway');

  // an exact route is not a listing: the request goes through the AI checks as before
  const exact = await fetch(gw.proxyUrl + '/exact/v1/models');
  assert.equal(exact.status, 400);
  await exact.text();

  // chat on the same prefix route still proxies
  const chat = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.choices[0]!.message.content, '1+1 equals 2.');
  assert.equal(mock.requests.length, 1);
});
