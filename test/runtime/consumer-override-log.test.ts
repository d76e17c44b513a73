// R-PIPE-6 (issue 15): a consumer-level ai-rate-limiting replaces the
// route's; the gateway says so in one info line per configuration change,
// not per request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const LINE = /\[info\] consumer jack: its ai-rate-limiting replaces the configuration of route r1 \(consumer plugins win, R-PIPE-6\)/g;

test('R-PIPE-6: one info line when a consumer ai-rate-limiting replaces the route\'s, again after a change, never per request', async (t) => {
  const mock = await startMockLlm();
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await mock.close(); });
  const route = await gw.admin('PUT', '/apisix/admin/routes/r1', {
    uri: '/chat',
    plugins: {
      'key-auth': {},
      'ai-rate-limiting': { limit: 1000, time_window: 60 },
      'ai-proxy-multi': { instances: [{ name: 'a', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: mock.url } }] },
    },
  });
  assert.equal(route.status, 201, route.text);
  const consumer = (limit: number) => gw.admin('PUT', '/apisix/admin/consumers', {
    username: 'jack',
    plugins: { 'key-auth': { key: 'jack-key' }, 'ai-rate-limiting': { limit, time_window: 60 } },
  });
  assert.equal((await consumer(50000)).status, 201);
  const chat = async () => {
    const r = await fetch(`${gw.proxyUrl}/chat`, { method: 'POST', headers: { 'content-type': 'application/json', apikey: 'jack-key' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
    await r.text();
    return r;
  };
  const lines = () => gw.stderr().match(LINE)?.length ?? 0;
  for (let i = 0; i < 4; i++) {
    const r = await chat();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ai-ratelimit-limit-a'), '50000', 'the consumer\'s limit applies');
  }
  await until(() => lines() >= 1, 3000, 'the info line');
  assert.equal(lines(), 1, 'once for four requests');
  assert.equal((await consumer(60000)).status, 200);
  const r = await chat();
  assert.equal(r.headers.get('x-ai-ratelimit-limit-a'), '60000');
  await chat();
  await until(() => lines() >= 2, 3000, 'the line after the change');
  assert.equal(lines(), 2, 'once more after the change');
});
