// Cluster mode end to end (R-GEN-16, CONTRACT): one etcd, one Redis, three
// switchyard nodes (config_provider: etcd) started through the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';
import { startEtcd, type EtcdProcess } from '../helpers/etcd.js';
import { redisBinary, startRedis, REDIS_SKIP, type RedisServer } from '../helpers/redis.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

let etcd: EtcdProcess;
let redis: RedisServer | undefined;
let mock: MockLlm;
let nodes: GatewayProcess[] = [];

test.before(async () => {
  mock = await startMockLlm();
  etcd = await startEtcd();
  if (redisBinary()) redis = await startRedis();
  const prefix = `/switchyard-${randomBytes(4).toString('hex')}`;
  const config = {
    // R-SEC-10: every node sharing the prefix has the same keyring
    apisix: { data_encryption: { keyring: ['edd1c9f0985e76a2'] } },
    deployment: {
      role_traditional: { config_provider: 'etcd' },
      etcd: { host: [etcd.url], prefix, timeout: 30 },
    },
    nginx_config: { http: { enable_access_log: false } },
  };
  nodes = await Promise.all([0, 1, 2].map(() => startGateway({ config, timeoutMs: 30_000 })));
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await etcd?.close();
  await redis?.stop();
  await mock?.close();
});

function route(uri: string, extra: Record<string, unknown> = {}) {
  return {
    uri,
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [
          { name: 'openai-instance', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer sk' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
        ],
      },
      ...extra,
    },
  };
}

async function chat(node: GatewayProcess, uri: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(node.proxyUrl + uri, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(CHAT),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** ms until cond() holds (polling every 10 ms), or throws after `ms` */
async function within(ms: number, what: string, cond: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('R-GEN-16, CONTRACT: routes, consumers and credentials created on node 1 are live on nodes 2 and 3 within 1 s; deletes too', async () => {
  const [n1, n2, n3] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess];
  let r = await n1.admin('PUT', '/apisix/admin/routes/r1', route('/r1', { 'key-auth': {} }));
  assert.equal(r.status, 201, r.text);
  r = await n1.admin('PUT', '/apisix/admin/consumers', { username: 'jack' });
  assert.equal(r.status, 201, r.text);
  r = await n1.admin('PUT', '/apisix/admin/consumers/jack/credentials/c1', { plugins: { 'key-auth': { key: 'jack-key' } } });
  assert.equal(r.status, 201, r.text);
  // live on the writing node when the Admin API has answered
  assert.equal(await chat(n1, '/r1', { apikey: 'jack-key' }), 200);
  for (const n of [n2, n3]) {
    // the change is in the node's configuration within 1 s (the Admin API reads the node's own copy) ...
    const ms = await within(1000, 'route + credential on another node', async () =>
      (await n.admin('GET', '/apisix/admin/consumers/jack/credentials/c1')).status === 200 &&
      (await n.admin('GET', '/apisix/admin/routes/r1')).status === 200);
    assert.ok(ms <= 1000);
    // ... and live for its proxy
    assert.equal(await chat(n, '/r1', { apikey: 'jack-key' }), 200);
    const got = await n.admin('GET', '/apisix/admin/routes/r1');
    assert.equal(got.status, 200);
    assert.equal(got.body.modifiedIndex, (await n1.admin('GET', '/apisix/admin/routes/r1')).body.modifiedIndex);
  }
  // POST ids come from etcd revisions: increasing across nodes
  const p1 = await n2.admin('POST', '/apisix/admin/routes', route('/posted'));
  const p2 = await n3.admin('POST', '/apisix/admin/routes', route('/posted2'));
  assert.match(p1.body.value.id, /^\d{20}$/);
  assert.ok(p2.body.value.id > p1.body.value.id);
  // delete on node 2: gone everywhere
  assert.equal((await n2.admin('DELETE', '/apisix/admin/consumers/jack')).status, 200);
  for (const n of [n1, n3]) {
    await within(1000, 'consumer delete on another node', async () => (await n.admin('GET', '/apisix/admin/consumers/jack')).status === 404);
    assert.equal(await chat(n, '/r1', { apikey: 'jack-key' }), 401);
  }
});

test('R-RL-5, R-GEN-16: one ai-rate-limiting quota with policy redis is shared by all three nodes', { skip: redisBinary() ? false : REDIS_SKIP }, async () => {
  const [n1, n2, n3] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess];
  const r = await n1.admin('PUT', '/apisix/admin/routes/limited', route('/limited', {
    'ai-rate-limiting': {
      instances: [{ name: 'openai-instance', limit: 50, time_window: 60 }],
      limit_strategy: 'total_tokens',
      rejected_code: 429,
      policy: 'redis',
      redis_host: '127.0.0.1',
      redis_port: redis!.port,
    },
  }));
  assert.equal(r.status, 201, r.text);
  for (const n of [n2, n3]) await within(1000, 'limited route', async () => (await n.admin('GET', '/apisix/admin/routes/limited')).status === 200);
  // 31 tokens per response: two requests spend the 50-token quota, wherever they land
  assert.equal(await chat(n1, '/limited'), 200);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(await chat(n2, '/limited'), 200);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(await chat(n3, '/limited'), 429);
  assert.equal(await chat(n1, '/limited'), 429);
});

test('CONTRACT, R-GEN-16: etcd restarted under proxy traffic: no proxy request fails, Admin writes answer 503 quickly, then succeed', async () => {
  const [n1, n2, n3] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess];
  assert.equal((await n1.admin('PUT', '/apisix/admin/routes/traffic', route('/traffic'))).status, 201);
  for (const n of [n2, n3]) await within(1000, 'traffic route', async () => (await chat(n, '/traffic')) === 200);

  let stop = false;
  const failures: string[] = [];
  let served = 0;
  const load = (async () => {
    for (let i = 0; !stop && i < 5000; i++) {
      const n = nodes[i % 3]!;
      try {
        const status = await chat(n, '/traffic');
        if (status === 200) served++;
        else failures.push(`node ${i % 3}: ${status}`);
      } catch (err) {
        failures.push(`node ${i % 3}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 300));
    await etcd.stop('SIGKILL');
    const writes: number[] = [];
    for (const n of [n1, n2]) {
      const t0 = Date.now();
      const res = await n.admin('PUT', '/apisix/admin/routes/during', route('/during'));
      writes.push(Date.now() - t0);
      assert.equal(res.status, 503, res.text);
      assert.equal(typeof res.body.error_msg, 'string');
    }
    assert.ok(writes.every((ms) => ms < 5000), `write durations ${writes}`);
    // reads keep the last configuration
    assert.equal((await n3.admin('GET', '/apisix/admin/routes/traffic')).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    await etcd.start();
    // writes work again, and reach the other nodes
    await within(10_000, 'an Admin write after etcd came back', async () => (await n1.admin('PUT', '/apisix/admin/routes/after', route('/after'))).status === 201);
    for (const n of [n2, n3]) {
      await within(1000, 'route written after the restart', async () => (await n.admin('GET', '/apisix/admin/routes/after')).status === 200);
      assert.equal(await chat(n, '/after'), 200);
    }
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    stop = true;
    await load;
  }
  assert.deepEqual(failures, []);
  assert.ok(served > 20, `served ${served}`);
});

test('R-HC-14, R-CTL-2: in a cluster each node runs its own health checker and reports it on /v1/healthcheck', async () => {
  const probe = { status: 200, body: 'ok' };
  mock.route('/probe', () => probe);
  const conf = route('/checked');
  const instances = (conf.plugins['ai-proxy-multi'] as any).instances;
  instances.push({
    ...instances[0],
    name: 'checked-instance',
    checks: { active: { type: 'http', http_path: '/probe', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } },
  });
  assert.equal((await nodes[0]!.admin('PUT', '/apisix/admin/routes/checked', conf)).status, 201);
  const report = async (n: GatewayProcess) => {
    const res = await fetch(n.controlUrl + '/v1/healthcheck');
    const body = (await res.json()) as any;
    return Array.isArray(body) ? body.find((e: any) => e.instance === 'checked-instance') : undefined;
  };
  for (const n of nodes) {
    await within(3000, 'the route on every node', async () => (await chat(n, '/checked')) === 200);
    await within(3000, 'a checker on every node', async () => (await report(n)) !== undefined);
  }
  // the probe fails: every node finds out by itself
  probe.status = 500;
  for (const n of nodes) {
    await within(5000, 'unhealthy on every node', async () => (await report(n))?.nodes?.[0]?.status === 'unhealthy');
  }
  probe.status = 200;
});
