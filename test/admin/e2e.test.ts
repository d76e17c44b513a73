// The Admin API through the real CLI (test/helpers/gateway.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startGateway } from '../helpers/gateway.js';

test('R-ADM-16 R-ADM-20 R-RES-6 R-RES-7 R-GEN-4 seed flows through the CLI, durable across restart (R-GEN-15)', async (t) => {
  const gw = await startGateway();
  let gw2: Awaited<ReturnType<typeof startGateway>> | undefined;
  t.after(async () => {
    await gw.kill();
    if (gw2) await gw2.kill();
    rmSync(gw.dir, { recursive: true, force: true });
  });
  // seed: PUT /apisix/admin/routes with the id in the body
  const route = await gw.admin('PUT', '/apisix/admin/routes', {
    id: 'ai-proxy-multi-route',
    uri: '/anything',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 8, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' } },
          { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'deepseek-chat' } },
        ],
      },
    },
  });
  assert.equal(route.status, 201, route.text);
  assert.equal(route.body.key, '/apisix/routes/ai-proxy-multi-route');
  assert.match(route.headers.get('server') ?? '', /^APISIX\/3\.16\.0 \(switchyard\/.+\)$/);
  assert.equal(route.headers.get('x-api-version'), 'v3');

  const consumer = await gw.admin('PUT', '/apisix/admin/consumers', {
    username: 'johndoe',
    plugins: { 'ai-rate-limiting': { instances: [{ name: 'openai-instance', limit: 10, time_window: 60 }], rejected_code: 429, limit_strategy: 'total_tokens' } },
  });
  assert.equal(consumer.status, 201, consumer.text);
  const cred = await gw.admin('PUT', '/apisix/admin/consumers/johndoe/credentials', {
    id: 'cred-john-key-auth',
    plugins: { 'key-auth': { key: 'john-key' } },
  });
  assert.equal(cred.status, 201, cred.text);
  const gr = await gw.admin('PUT', '/apisix/admin/global_rules/1', { plugins: { prometheus: {} } });
  assert.equal(gr.status, 201, gr.text);

  const bad = await gw.admin('PUT', '/apisix/admin/routes/x', {
    uri: '/x',
    plugins: { 'ai-proxy-multi': { instances: [{ name: 'i', provider: 'openai', weight: 'eight', auth: { header: {} } }] } },
  });
  assert.equal(bad.status, 400);
  assert.ok(bad.body.error_msg.startsWith('failed to check the configuration of plugin ai-proxy-multi err: '), bad.text);
  assert.ok(bad.body.error_msg.includes('weight'), bad.text);

  const list = await gw.admin('GET', '/apisix/admin/plugins/list');
  assert.equal(list.status, 200);
  assert.ok(list.body.includes('ai-proxy-multi'));

  // restart on the same directory: everything is still there
  await gw.stop();
  gw2 = await startGateway({ dir: gw.dir });
  const routes = await gw2.admin('GET', '/apisix/admin/routes');
  assert.equal(routes.body.total, 1);
  assert.equal(routes.body.list[0].value.id, 'ai-proxy-multi-route');
  const creds = await gw2.admin('GET', '/apisix/admin/consumers/johndoe/credentials');
  assert.equal(creds.body.total, 1);
  const posted = await gw2.admin('POST', '/apisix/admin/routes', { uri: '/p', upstream: { nodes: { '127.0.0.1:1': 1 } } });
  assert.equal(posted.status, 201);
  assert.match(posted.body.value.id, /^\d{20}$/);
});

test('R-GEN-14 R-ADM-4 generated admin key works; wrong key is refused', async (t) => {
  const gw = await startGateway({ config: { deployment: { admin: { admin_key: [{ name: 'admin', key: '', role: 'admin' }] } } } });
  t.after(async () => {
    await gw.kill();
    rmSync(gw.dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 5000;
  let m: RegExpExecArray | null = null;
  while (!(m = /generated admin key for "admin": ([0-9a-f]{32})/.exec(gw.stdout())) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(m, gw.stdout());
  const ok = await fetch(gw.adminUrl + '/apisix/admin/routes', { headers: { 'X-API-KEY': m![1]! } });
  assert.equal(ok.status, 200);
  const wrong = await gw.admin('GET', '/apisix/admin/routes');
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.body, { error_msg: 'failed to check token', description: 'wrong apikey' });
});
