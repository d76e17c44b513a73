// The Control API handler (R-CTL-2..5) over a real listener, with a real
// HealthService probing a local server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createControlHandler } from '../../src/control/server.js';
import { createHealthService } from '../../src/llm/health/index.js';
import type { StoredItem } from '../../src/store/types.js';
import { memState, captureLog, probeServer, waitFor } from '../health/util.js';

async function setup(t: import('node:test').TestContext) {
  const probe = await probeServer();
  const health = createHealthService({ state: memState(), disabled: false, log: captureLog() });
  const items = new Map<string, StoredItem>();
  const put = (key: string) => items.set(key, { key, value: {}, createdIndex: 1, modifiedIndex: 1 });
  const handler = createControlHandler({ health, store: { snapshot: () => items } });
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(async () => {
    health.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await probe.close();
  });
  const get = async (p: string, headers: Record<string, string> = {}, method = 'GET') => {
    const res = await fetch(base + p, { method, headers });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', text };
  };
  return { probe, health, put, get };
}

test('R-CTL-2 R-CTL-5 GET /v1/healthcheck: {} without checkers, entries with checkers; other paths 404 page', async (t) => {
  const { probe, health, put, get } = await setup(t);
  let r = await get('/v1/healthcheck');
  assert.equal(r.status, 200);
  assert.match(r.type, /^application\/json/);
  assert.equal(r.text, '{}\n');

  put('/apisix/routes/ai-proxy-multi-route');
  const h = health.register('/apisix/routes/ai-proxy-multi-route', 'x', [{
    name: 'llm-instance-2', index: 1, scheme: 'https', host: '127.0.0.1', port: probe.port,
    checks: { active: { type: 'http', host: 'yourhost.com', healthy: { interval: 0.03 }, unhealthy: { interval: 0.03, http_failures: 1 } } },
  }]);
  t.after(() => h.destroy());
  r = await get('/v1/healthcheck?x=1');
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text), [{
    name: "/apisix/routes/ai-proxy-multi-route#plugins['ai-proxy-multi'].instances[1]",
    instance: 'llm-instance-2',
    type: 'http',
    nodes: [{ ip: '127.0.0.1', port: probe.port, hostname: 'yourhost.com', status: 'healthy', counter: { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 } }],
  }]);
  probe.status = 500;
  await waitFor(() => !h.isHealthy('llm-instance-2'), 3000, 'unhealthy');
  r = await get('/v1/healthcheck');
  const e = JSON.parse(r.text)[0];
  assert.equal(e.nodes[0].status, 'unhealthy');
  assert.equal(e.nodes[0].counter.http_failure, 1);

  for (const p of ['/', '/v1/schema', '/v1/routes', '/v1/healthcheckx', '/v1/plugins/reload']) {
    r = await get(p);
    assert.equal(r.status, 404, p);
    assert.match(r.type, /^text\/html/);
    assert.ok(r.text.includes('404 Not Found'), p);
  }
  r = await get('/v1/healthcheck', {}, 'POST');
  assert.equal(r.status, 404);
});

test('R-CTL-3 GET /v1/healthcheck/<src_type>/<src_id> errors and per-resource entries', async (t) => {
  const { probe, health, put, get } = await setup(t);
  put('/apisix/routes/1');
  put('/apisix/routes/2');
  put('/apisix/services/s1');
  const checks = { active: { healthy: { interval: 5 } } };
  const h1 = health.register('/apisix/routes/1', 'a', [
    { name: 'i0', index: 0, scheme: 'http', host: '127.0.0.1', port: probe.port, checks },
    { name: 'i1', index: 1, scheme: 'http', host: '127.0.0.1', port: probe.port, checks: { active: { type: 'tcp', healthy: { interval: 5 } } } },
  ]);
  const h2 = health.register('/apisix/services/s1', 'b', [{ name: 'j', index: 0, scheme: 'http', host: '127.0.0.1', port: probe.port, checks }]);
  t.after(() => { h1.destroy(); h2.destroy(); });

  let r = await get('/v1/healthcheck/consumers/jack');
  assert.equal(r.status, 400);
  assert.equal(r.text, '{"error_msg":"invalid src type consumers"}\n');
  r = await get('/v1/healthcheck/routes');
  assert.equal(r.status, 404);
  assert.deepEqual(JSON.parse(r.text), { error_msg: 'missing src id for src type routes' });
  r = await get('/v1/healthcheck/routes/');
  assert.deepEqual(JSON.parse(r.text), { error_msg: 'missing src id for src type routes' });
  r = await get('/v1/healthcheck/routes/404');
  assert.equal(r.status, 404);
  assert.deepEqual(JSON.parse(r.text), { error_msg: 'routes[404] not found' });
  r = await get('/v1/healthcheck/stream_routes/1');
  assert.deepEqual(JSON.parse(r.text), { error_msg: 'stream_routes[1] not found' });
  r = await get('/v1/healthcheck/routes/2');
  assert.equal(r.status, 404);
  assert.deepEqual(JSON.parse(r.text), { error_msg: 'no checker for routes[2]' });
  r = await get('/v1/healthcheck/routes/1');
  assert.equal(r.status, 200);
  const list = JSON.parse(r.text);
  assert.deepEqual(list.map((e: any) => [e.name, e.instance, e.type]), [
    ["/apisix/routes/1#plugins['ai-proxy-multi'].instances[0]", 'i0', 'http'],
    ["/apisix/routes/1#plugins['ai-proxy-multi'].instances[1]", 'i1', 'tcp'],
  ]);
  r = await get('/v1/healthcheck/services/s1');
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.text)[0].instance, 'j');
});

test('R-CTL-4 Accept: text/html answers the status page', async (t) => {
  const { probe, health, put, get } = await setup(t);
  put('/apisix/routes/1');
  const h = health.register('/apisix/routes/1', 'a', [{ name: 'i0', index: 0, scheme: 'http', host: '127.0.0.1', port: probe.port, checks: { active: { healthy: { interval: 5 } } } }]);
  t.after(() => h.destroy());
  for (const p of ['/v1/healthcheck', '/v1/healthcheck/routes/1']) {
    const r = await get(p, { accept: 'text/html,application/xhtml+xml' });
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/html/);
    assert.ok(r.text.includes('<title>APISIX upstream check status</title>'));
    for (const col of ['Index', 'Upstream', 'Check type', 'Host', 'Status', 'Success counts', 'TCP Failures', 'HTTP Failures', 'TIMEOUT Failures']) {
      assert.ok(r.text.includes(`<th>${col}</th>`), col);
    }
    assert.ok(r.text.includes(`<td>127.0.0.1:${probe.port}</td>`));
    assert.ok(r.text.includes("<td>/apisix/routes/1#plugins[&#39;ai-proxy-multi&#39;].instances[0]</td>"));
  }
});
