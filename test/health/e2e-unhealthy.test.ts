// Health checks end to end through the real CLI: every instance unhealthy
// ("use default", R-BAL-3 / R-HC-13), per-resource Control API (R-CTL-3),
// route removal stopping checkers (R-HC-12) and
// apisix.disable_upstream_healthcheck (R-HC-15).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';

const CHAT = '/v1/chat/completions';

function instance(name: string, mock: MockLlm, checks?: Record<string, unknown>) {
  return {
    name,
    provider: 'openai-compatible',
    weight: 1,
    auth: { header: { Authorization: `Bearer ${name}` } },
    options: { model: 'm' },
    override: { endpoint: mock.url + CHAT },
    ...(checks ? { checks } : {}),
  };
}

const failingChecks = { active: { http_path: '/probe', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } };

async function ask(gw: GatewayProcess, path = '/chat'): Promise<number> {
  const res = await fetch(gw.proxyUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.text();
  return res.status;
}

async function control(gw: GatewayProcess, p: string, headers: Record<string, string> = {}) {
  const res = await fetch(gw.controlUrl + p, { headers });
  const text = await res.text();
  let body: any;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: res.status, text, body, type: res.headers.get('content-type') ?? '' };
}

async function until<T>(f: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('R-HC-13 R-BAL-3 R-CTL-3 R-CTL-4 R-HC-12 all instances unhealthy: every instance is used; per-route Control API; removal stops checkers', { timeout: 30_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  for (const m of [a, b]) m.route('/probe', { status: 500, body: 'down' });
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await a.close(); await b.close(); });

  const r = await gw.admin('PUT', '/apisix/admin/routes/hc', {
    uri: '/chat',
    plugins: { 'ai-proxy-multi': { instances: [instance('inst-a', a, failingChecks), instance('inst-b', b, failingChecks)] } },
  });
  assert.ok(r.status < 300, r.text);
  await gw.admin('PUT', '/apisix/admin/routes/plain', { uri: '/plain', upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1': 1 } } });

  const both = await until(async () => {
    const c = await control(gw, '/v1/healthcheck');
    const list = Array.isArray(c.body) ? c.body : [];
    return list.length === 2 && list.every((e: any) => e.nodes[0].status === 'unhealthy') ? list : undefined;
  }, 6000, 'both instances unhealthy');
  assert.deepEqual(both.map((e: any) => e.instance).sort(), ['inst-a', 'inst-b']);

  // R-BAL-3 "use default": with every instance unhealthy, all are candidates
  const a0 = a.count(CHAT);
  const b0 = b.count(CHAT);
  for (let i = 0; i < 6; i++) assert.equal(await ask(gw), 200);
  assert.equal(a.count(CHAT) - a0, 3);
  assert.equal(b.count(CHAT) - b0, 3);

  // R-CTL-3 per-resource view, with the store telling "not found" from "no checker"
  let c = await control(gw, '/v1/healthcheck/routes/hc');
  assert.equal(c.status, 200);
  assert.equal(c.body.length, 2);
  assert.deepEqual(c.body.map((e: any) => e.name).sort(), [
    "/apisix/routes/hc#plugins['ai-proxy-multi'].instances[0]",
    "/apisix/routes/hc#plugins['ai-proxy-multi'].instances[1]",
  ]);
  c = await control(gw, '/v1/healthcheck/routes/plain');
  assert.equal(c.status, 404);
  assert.deepEqual(c.body, { error_msg: 'no checker for routes[plain]' });
  c = await control(gw, '/v1/healthcheck/routes/nope');
  assert.deepEqual([c.status, c.body], [404, { error_msg: 'routes[nope] not found' }]);
  c = await control(gw, '/v1/healthcheck/foo/1');
  assert.deepEqual([c.status, c.body], [400, { error_msg: 'invalid src type foo' }]);
  c = await control(gw, '/v1/healthcheck/services');
  assert.deepEqual([c.status, c.body], [404, { error_msg: 'missing src id for src type services' }]);
  c = await control(gw, '/v1/healthcheck', { accept: 'text/html' });
  assert.equal(c.status, 200);
  assert.match(c.type, /^text\/html/);
  assert.ok(c.text.includes('APISIX upstream check status'));
  c = await control(gw, '/v1/routes');
  assert.equal(c.status, 404);
  assert.ok(c.text.includes('404 Not Found'));

  // one instance recovers: only it is used
  a.route('/probe', { status: 200, body: 'up' });
  await until(async () => {
    const list = (await control(gw, '/v1/healthcheck')).body;
    return Array.isArray(list) && list.find((e: any) => e.instance === 'inst-a')?.nodes[0].status === 'healthy' ? true : undefined;
  }, 4000, 'inst-a healthy');
  const a1 = a.count(CHAT);
  const b1 = b.count(CHAT);
  for (let i = 0; i < 4; i++) assert.equal(await ask(gw), 200);
  assert.deepEqual([a.count(CHAT) - a1, b.count(CHAT) - b1], [4, 0]);

  // R-HC-12: deleting the route stops its checkers
  const del = await gw.admin('DELETE', '/apisix/admin/routes/hc');
  assert.equal(del.status, 200);
  await until(async () => ((await control(gw, '/v1/healthcheck')).text === '{}\n' ? true : undefined), 10_000, 'checkers gone');
  const pa = a.count('/probe');
  const pb = b.count('/probe');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(a.count('/probe'), pa, 'no probes after removal');
  assert.equal(b.count('/probe'), pb);
});

test('R-HC-15 disable_upstream_healthcheck: checks ignored, /v1/healthcheck empty, failing instance still serves', { timeout: 20_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  b.route('/probe', { status: 500, body: 'down' });
  const gw = await startGateway({ config: { apisix: { disable_upstream_healthcheck: true } } });
  t.after(async () => { await gw.stop(); await a.close(); await b.close(); });
  const r = await gw.admin('PUT', '/apisix/admin/routes/off', {
    uri: '/chat',
    plugins: { 'ai-proxy-multi': { instances: [instance('inst-a', a), instance('inst-b', b, failingChecks)] } },
  });
  assert.ok(r.status < 300, r.text);
  // first request compiles the route at the latest
  assert.equal(await ask(gw), 200);
  await new Promise((r) => setTimeout(r, 2200));
  assert.equal(b.count('/probe'), 0, 'no probes');
  const c = await control(gw, '/v1/healthcheck');
  assert.equal(c.status, 200);
  assert.equal(c.text, '{}\n');
  const a0 = a.count(CHAT);
  const b0 = b.count(CHAT);
  for (let i = 0; i < 10; i++) assert.equal(await ask(gw), 200);
  assert.deepEqual([a.count(CHAT) - a0, b.count(CHAT) - b0], [5, 5]);
  assert.ok(gw.stderr().includes('disabled upstream healthcheck'), 'log line');
});
