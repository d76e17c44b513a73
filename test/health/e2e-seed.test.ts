// The seed's health-check scenario (R-SCN-6) end to end: the real CLI, two
// mock LLMs, the second instance probed on /your/probe/path with the seed's
// intervals and thresholds, observed through requests and the Control API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';

const CHAT = '/v1/chat/completions';

test('R-SCN-6 R-HC-4 R-HC-7 R-HC-9 R-HC-10 R-HC-11 R-CTL-2 seed health-check scenario: leaves after 3 failing probes, rejoins after 1 success', { timeout: 30_000 }, async (t) => {
  const m1 = await startMockLlm();
  const m2 = await startMockLlm();
  let probeStatus = 200;
  m2.route('/your/probe/path', () => ({ status: probeStatus, body: 'probe' }));
  const gw = await startGateway();
  t.after(async () => {
    await gw.stop();
    await m1.close();
    await m2.close();
  });
  const instance = (name: string, url: string) => ({
    name,
    provider: 'openai-compatible',
    weight: 0,
    auth: { header: { Authorization: `Bearer key-${name}` } },
    options: { model: 'your-model' },
    override: { endpoint: url + CHAT },
  });
  const put = await gw.admin('PUT', '/apisix/admin/routes/ai-proxy-multi-route', {
    uri: '/anything',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          instance('llm-instance-1', m1.url),
          {
            ...instance('llm-instance-2', m2.url),
            checks: {
              active: {
                type: 'http', // the seed says https against its placeholder host (D21); the mock speaks http
                host: 'yourhost.com',
                http_path: '/your/probe/path',
                healthy: { interval: 2, successes: 1 },
                unhealthy: { interval: 1, http_failures: 3 },
              },
            },
          },
        ],
      },
    },
  });
  assert.ok(put.status === 200 || put.status === 201, `route PUT ${put.status} ${put.text}`);

  const ask = async () => {
    const res = await fetch(gw.proxyUrl + '/anything', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
  };
  const served = async (n: number) => {
    const a = m1.count(CHAT);
    const b = m2.count(CHAT);
    for (let i = 0; i < n; i++) await ask();
    return [m1.count(CHAT) - a, m2.count(CHAT) - b];
  };
  const health = async () => {
    const res = await fetch(gw.controlUrl + '/v1/healthcheck');
    assert.equal(res.status, 200);
    return res.json() as Promise<any>;
  };
  const waitHealth = async (pred: (e: any) => boolean, ms: number, what: string) => {
    const start = Date.now();
    for (;;) {
      const list = await health();
      const e = Array.isArray(list) ? list.find((x: any) => x.instance === 'llm-instance-2') : undefined;
      if (e && pred(e)) return { e, ms: Date.now() - start };
      if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(list)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // while the probe answers 200, requests alternate between the two
  assert.deepEqual(await served(4), [2, 2]);

  // the checker probes within one healthy interval; probes carry the Host and the instance's Authorization
  await waitHealth(() => m2.count('/your/probe/path') >= 1, 4000, 'first probe');
  const probe = m2.requests.find((r) => r.path === '/your/probe/path')!;
  assert.equal(probe.method, 'GET');
  assert.equal(probe.headers.host, 'yourhost.com');
  assert.equal(probe.headers.authorization, 'Bearer key-llm-instance-2');
  let { e } = await waitHealth(() => true, 1000, 'entry');
  assert.equal(e.name, "/apisix/routes/ai-proxy-multi-route#plugins['ai-proxy-multi'].instances[1]");
  assert.equal(e.type, 'http');
  assert.equal(e.nodes[0].ip, '127.0.0.1');
  assert.equal(e.nodes[0].port, m2.port);
  assert.equal(e.nodes[0].hostname, 'yourhost.com');
  assert.equal(e.nodes[0].status, 'healthy');

  // the probe path fails: unhealthy at the third failing probe (healthy interval 2 s → about 6 s)
  probeStatus = 500;
  const left = await waitHealth((x) => x.nodes[0].status === 'unhealthy', 10_000, 'unhealthy');
  assert.equal(left.e.nodes[0].counter.http_failure, 3);
  assert.ok(left.ms <= 8500, `unhealthy after ${left.ms} ms`);
  assert.deepEqual(await served(4), [4, 0], 'the unhealthy instance receives no requests');

  // the probe path recovers: one successful probe (unhealthy interval 1 s) makes it healthy
  probeStatus = 200;
  const back = await waitHealth((x) => x.nodes[0].status === 'healthy', 3000, 'healthy again');
  assert.ok(back.ms <= 2500, `healthy after ${back.ms} ms`);
  e = back.e;
  assert.deepEqual(e.nodes[0].counter, { success: 1, http_failure: 0, tcp_failure: 0, timeout_failure: 0 });
  const again = await served(4);
  assert.deepEqual(again, [2, 2], 'alternation resumes');
});
