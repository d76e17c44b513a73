// End-to-end with policy redis / redis-cluster: two gateway processes share
// one quota; Redis killed at request time (allow_degradation).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { startRedis, redisBinary, REDIS_SKIP, type RedisServer } from '../helpers/redis.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

async function post(gw: GatewayProcess, path: string): Promise<{ status: number; headers: Headers; text: string; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(gw.proxyUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(CHAT),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: Date.now() - t0 };
}

async function put(gw: GatewayProcess, path: string, body: unknown): Promise<void> {
  const r = await gw.admin('PUT', path, body);
  assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${r.text}`);
}

const usage10 = { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 };

function route(mock: MockLlm, uri: string, rl: Record<string, unknown>) {
  return {
    uri,
    plugins: {
      'ai-proxy': {
        provider: 'openai',
        auth: { header: { Authorization: 'Bearer sk' } },
        options: { model: 'gpt-4' },
        override: { endpoint: mock.url },
      },
      'ai-rate-limiting': { limit: 30, time_window: 60, ...rl },
    },
  };
}

const REMAINING = 'x-ai-ratelimit-remaining-ai-proxy-openai';

describe('ai-rate-limiting with Redis, end to end (R-RL-30)', { skip: redisBinary() ? false : REDIS_SKIP }, () => {
  let redis: RedisServer;
  let cluster: RedisServer;
  let mock: MockLlm;
  let gwA: GatewayProcess;
  let gwB: GatewayProcess;
  before(async () => {
    [redis, cluster, mock] = await Promise.all([startRedis(), startRedis({ cluster: true }), startMockLlm()]);
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'gpt-4', 'ok', usage10) }));
    [gwA, gwB] = await Promise.all([startGateway(), startGateway()]);
  });
  after(async () => {
    await Promise.allSettled([gwA?.stop(), gwB?.stop()]);
    await Promise.allSettled([redis?.stop(), cluster?.stop(), mock?.close()]);
  });

  test('R-RL-30 R-RL-5 two gateway processes share one quota (policy redis)', async () => {
    const r = route(mock, '/shared', { policy: 'redis', redis_host: '127.0.0.1', redis_port: redis.port, redis_timeout: 500 });
    await put(gwA, '/apisix/admin/routes/shared', r);
    await put(gwB, '/apisix/admin/routes/shared', r);
    const seen: [string, number, string | null][] = [];
    for (const [name, gw] of [['A', gwA], ['B', gwB], ['A', gwA], ['B', gwB]] as const) {
      const res = await post(gw, '/shared');
      seen.push([name, res.status, res.headers.get(REMAINING)]);
      // the charge happens in the log phase, after the response: let it land
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.deepEqual(seen, [['A', 200, '30'], ['B', 200, '20'], ['A', 200, '10'], ['B', 503, '0']]);
  });

  test('R-RL-30 two gateway processes share one quota (policy redis-cluster)', async () => {
    const r = route(mock, '/cluster', {
      policy: 'redis-cluster', redis_cluster_nodes: [cluster.node], redis_cluster_name: 'test-cluster', redis_timeout: 1000,
    });
    await put(gwA, '/apisix/admin/routes/cluster', r);
    await put(gwB, '/apisix/admin/routes/cluster', r);
    const a1 = await post(gwA, '/cluster');
    assert.equal(a1.status, 200, a1.text);
    assert.equal(a1.headers.get(REMAINING), '30');
    await new Promise((r) => setTimeout(r, 150));
    const b1 = await post(gwB, '/cluster');
    assert.equal(b1.headers.get(REMAINING), '20');
  });

  test('R-RL-30 Redis killed at request time: allow_degradation false → 500 `failed to limit count`, true → served; one log line; no hang', async () => {
    const own = await startRedis();
    try {
      const common = { policy: 'redis', redis_host: '127.0.0.1', redis_port: own.port, redis_timeout: 300 };
      await put(gwA, '/apisix/admin/routes/strict', route(mock, '/strict', common));
      await put(gwA, '/apisix/admin/routes/lenient', route(mock, '/lenient', { ...common, allow_degradation: true }));
      assert.equal((await post(gwA, '/strict')).status, 200);
      assert.equal((await post(gwA, '/lenient')).status, 200);
      const errBefore = gwA.stderr().split('\n').filter((l) => /\[error\].*ai-rate-limiting: redis 127\.0\.0\.1:\d+ unavailable/.test(l)).length;
      await own.kill();
      for (let i = 0; i < 4; i++) {
        const s = await post(gwA, '/strict');
        assert.equal(s.status, 500);
        // R-ERR-1: APISIX's error_msg in the OpenAI error shape
        assert.equal(s.text, '{"error_msg":"failed to limit count","error":{"message":"failed to limit count","type":"server_error","code":"internal_error"}}\n');
        assert.ok(s.ms < 2000, `no hang (${s.ms} ms)`);
        const l = await post(gwA, '/lenient');
        assert.equal(l.status, 200, 'allow_degradation lets the request pass unlimited');
        assert.ok(l.ms < 2000, `no hang (${l.ms} ms)`);
      }
      const lines = gwA.stderr().split('\n').filter((l) => /\[error\].*ai-rate-limiting: redis 127\.0\.0\.1:\d+ unavailable/.test(l));
      assert.equal(lines.length - errBefore, 1, lines.join('\n'));
      assert.equal(gwA.proc.exitCode, null, 'still running');
      // Redis back: limiting resumes (fresh server, empty counters)
      await own.restart();
      const deadline = Date.now() + 5000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await post(gwA, '/strict')).status;
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 200);
    } finally {
      await own.stop();
    }
  });
});
