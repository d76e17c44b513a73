// R-QTA-1..3 end to end: a quota that fits exactly K requests, hit by 10×K
// concurrent requests, serves K — with local counters, with Redis (two
// gateway processes sharing it) and Redis Cluster, and with a slow streaming
// upstream. The mock holds every answer long enough that all requests are
// in flight together; without reservations (APISIX's dry-run check) all of
// them would be served.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getEncoding } from 'js-tiktoken';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { startRedis, redisBinary, type RedisServer } from '../helpers/redis.js';

const K = 4;
const COMPLETION = 10;
const CHAT = { model: 'gpt-4o', messages: [{ role: 'user', content: 'What is 1+1? Answer briefly, please.' }], max_tokens: COMPLETION };

interface Res { status: number; headers: Headers; text: string }

async function post(gw: GatewayProcess, path: string, body: unknown = CHAT): Promise<Res> {
  const res = await fetch(gw.proxyUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function put(gw: GatewayProcess, path: string, body: unknown): Promise<void> {
  const r = await gw.admin('PUT', path, body);
  assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${r.text}`);
}

function route(mock: MockLlm, uri: string, rl: Record<string, unknown>) {
  return {
    uri,
    plugins: {
      'ai-proxy': {
        provider: 'openai',
        auth: { header: { Authorization: 'Bearer sk' } },
        override: { endpoint: mock.url },
      },
      'ai-rate-limiting': { time_window: 60, ...rl },
    },
  };
}

/** 10×K concurrent requests spread over the gateways; the statuses counted */
async function burst(gws: GatewayProcess[], path: string, body: unknown = CHAT): Promise<Map<number, number>> {
  const all = await Promise.all(Array.from({ length: 10 * K }, (_, i) => post(gws[i % gws.length]!, path, body)));
  const counts = new Map<number, number>();
  for (const r of all) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return counts;
}

const usage = (prompt: number, completion: number) => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

describe('R-QTA-1 concurrent admission (local counters)', () => {
  let gw: GatewayProcess;
  let mock: MockLlm;
  before(async () => {
    mock = await startMockLlm();
    gw = await startGateway();
  });
  after(async () => {
    await gw?.stop();
    await mock?.close();
  });

  test('R-QTA-1 R-QTA-2 completion_tokens: quota of K×max_tokens, 10×K concurrent requests → exactly K served, the rest 503', async () => {
    mock.reply(() => ({ json: chatCompletion('gpt-4o', 'ok', usage(7, COMPLETION)), delayMs: 300 }));
    await put(gw, '/apisix/admin/routes/c1', route(mock, '/c1', { limit: K * COMPLETION, limit_strategy: 'completion_tokens' }));
    const counts = await burst([gw], '/c1');
    assert.equal(counts.get(200), K, JSON.stringify([...counts]));
    assert.equal(counts.get(503), 9 * K);
    assert.equal(mock.requests.length, K, 'only the admitted requests reached the upstream');
    // sequentially afterwards: the quota is used up (as in APISIX)
    assert.equal((await post(gw, '/c1')).status, 503);
  });

  test('R-QTA-2 total_tokens: the prompt counted with the tokenizer; quota of K×(P + C) → exactly K served', async () => {
    const p = getEncoding('o200k_base').encode(CHAT.messages[0]!.content).length;
    mock.reply(() => ({ json: chatCompletion('gpt-4o', 'ok', usage(p, COMPLETION)), delayMs: 300 }));
    await put(gw, '/apisix/admin/routes/c2', route(mock, '/c2', { limit: K * (p + COMPLETION), rejected_code: 429 }));
    mock.requests.length = 0;
    const counts = await burst([gw], '/c2');
    assert.equal(counts.get(200), K, JSON.stringify([...counts]));
    assert.equal(counts.get(429), 9 * K);
  });

  test('R-QTA-1 slow streaming upstream: exactly K streams served; each stream charged its real usage', async () => {
    mock.reply(() => ({ sse: sseChat('gpt-4o', ['a', 'b', 'c'], usage(7, COMPLETION), 60) }));
    await put(gw, '/apisix/admin/routes/c3', route(mock, '/c3', { limit: K * COMPLETION, limit_strategy: 'completion_tokens' }));
    const counts = await burst([gw], '/c3', { ...CHAT, stream: true });
    assert.equal(counts.get(200), K, JSON.stringify([...counts]));
    assert.equal(counts.get(503), 9 * K);
  });

  test('R-QTA-1 sequential traffic as in APISIX: a request alone is admitted while used < limit, whatever its estimate', async () => {
    // estimate 10 (max_tokens) but real usage 3: four requests fit a quota of 10 one after the other
    mock.reply(() => ({ json: chatCompletion('gpt-4o', 'ok', usage(1, 3)) }));
    await put(gw, '/apisix/admin/routes/c4', route(mock, '/c4', { limit: 10, limit_strategy: 'completion_tokens' }));
    const seen: [number, string | null][] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(gw, '/c4');
      seen.push([r.status, r.headers.get('x-ai-ratelimit-remaining-ai-proxy-openai')]);
    }
    // remaining = limit − used before this request (its own reservation is not subtracted)
    assert.deepEqual(seen, [[200, '10'], [200, '7'], [200, '4'], [200, '1'], [503, '0']]);
  });

  test('R-QTA-3 ai-proxy-multi: every instance out of quota → rejected_code with the X-AI-RateLimit-* headers, not 503', async () => {
    mock.reply(() => ({ json: chatCompletion('gpt-4o', 'ok', usage(1, COMPLETION)) }));
    const inst = (name: string) => ({ name, provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: mock.url } });
    await put(gw, '/apisix/admin/routes/c5', {
      uri: '/c5',
      plugins: {
        'ai-proxy-multi': { instances: [inst('a'), inst('b')], fallback_strategy: ['rate_limiting'] },
        'ai-rate-limiting': {
          instances: [{ name: 'a', limit: COMPLETION, time_window: 60 }, { name: 'b', limit: COMPLETION, time_window: 60 }],
          limit_strategy: 'completion_tokens', rejected_code: 429, rejected_msg: 'quota exhausted',
        },
      },
    });
    const served = await Promise.all([post(gw, '/c5'), post(gw, '/c5'), post(gw, '/c5')]);
    assert.deepEqual(served.map((r) => r.status).sort(), [200, 200, 429]);
    const rej = served.find((r) => r.status === 429)!;
    // R-ERR-1: rejected_msg as error_msg of the OpenAI error shape
    assert.deepEqual(JSON.parse(rej.text), { error_msg: 'quota exhausted', error: { message: 'quota exhausted', type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
    const names = [...rej.headers.keys()].filter((k) => k.startsWith('x-ai-ratelimit-'));
    assert.ok(names.length >= 3, `rate-limit headers present: ${names.join(', ')}`);
  });
});

describe('R-QTA-1 concurrent admission with Redis (two gateway processes)', { skip: redisBinary() ? false : 'redis-server not found' }, () => {
  let redis: RedisServer;
  let cluster: RedisServer;
  let mock: MockLlm;
  let gwA: GatewayProcess;
  let gwB: GatewayProcess;
  before(async () => {
    [redis, cluster, mock] = await Promise.all([startRedis(), startRedis({ cluster: true }), startMockLlm()]);
    [gwA, gwB] = await Promise.all([startGateway(), startGateway()]);
  });
  after(async () => {
    await Promise.allSettled([gwA?.stop(), gwB?.stop()]);
    await Promise.allSettled([redis?.stop(), cluster?.stop(), mock?.close()]);
  });

  for (const policy of ['redis', 'redis-cluster'] as const) {
    test(`R-QTA-1 policy ${policy}: 10×K concurrent requests over two gateways → exactly K served`, async () => {
      mock.reply(() => ({ json: chatCompletion('gpt-4o', 'ok', usage(7, COMPLETION)), delayMs: 300 }));
      const conn = policy === 'redis'
        ? { policy, redis_host: '127.0.0.1', redis_port: redis.port, redis_timeout: 2000 }
        : { policy, redis_cluster_nodes: [cluster.node], redis_cluster_name: 'test-cluster', redis_timeout: 2000 };
      const r = route(mock, `/${policy}`, { limit: K * COMPLETION, limit_strategy: 'completion_tokens', ...conn });
      await put(gwA, `/apisix/admin/routes/${policy}`, r);
      await put(gwB, `/apisix/admin/routes/${policy}`, r);
      mock.requests.length = 0;
      const counts = await burst([gwA, gwB], `/${policy}`);
      assert.equal(counts.get(200), K, JSON.stringify([...counts]));
      assert.equal(counts.get(503), 9 * K);
      assert.equal(mock.requests.length, K);
    });
  }

  test('R-QTA-1 policy redis with a slow streaming upstream: exactly K streams served over two gateways', async () => {
    mock.reply(() => ({ sse: sseChat('gpt-4o', ['a', 'b', 'c'], usage(7, COMPLETION), 60) }));
    const r = route(mock, '/redis-sse', { limit: K * COMPLETION, limit_strategy: 'completion_tokens', policy: 'redis', redis_host: '127.0.0.1', redis_port: redis.port, redis_timeout: 2000 });
    await put(gwA, '/apisix/admin/routes/redis-sse', r);
    await put(gwB, '/apisix/admin/routes/redis-sse', r);
    const counts = await burst([gwA, gwB], '/redis-sse', { ...CHAT, stream: true });
    assert.equal(counts.get(200), K, JSON.stringify([...counts]));
  });
});
