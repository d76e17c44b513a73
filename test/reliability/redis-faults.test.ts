// Issue 16 item 3 (R-RL-30): ai-rate-limiting with policy redis when Redis is
// paused (SIGSTOP) or slow (DEBUG SLEEP blocks it) under the real CLI.
// allow_degradation false answers 500 `failed to limit count`, true serves
// unlimited; both within redis_timeout plus a margin, never hanging; a route
// without the plugin is not affected; once Redis answers, limiting resumes.
// (Redis killed: test/rate-limiting/e2e-redis.test.ts.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { chatCompletion, startMockLlm, type MockLlm } from '../helpers/mock-llm.js';
import { redisBinary, redisCommand, REDIS_SKIP, startRedis, type RedisServer } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const CHAT = JSON.stringify({ messages: [{ role: 'user', content: 'What is 1+1?' }] });
const REMAINING = 'x-ai-ratelimit-remaining-ai-proxy-openai';
/** a hang would take the 10 s client timeout; redis_timeout is 1 s (a loaded machine needs the room) */
const NO_HANG_MS = 5000;

async function post(gw: GatewayProcess, path: string) {
  const t0 = Date.now();
  const res = await fetch(gw.proxyUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: CHAT, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, remaining: res.headers.get(REMAINING), text, ms: Date.now() - t0 };
}

function route(mock: MockLlm, uri: string, rl?: Record<string, unknown>) {
  return {
    uri,
    plugins: {
      'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer sk' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
      ...(rl ? { 'ai-rate-limiting': { limit: 1000, time_window: 60, ...rl } } : {}),
    },
  };
}

async function redisAnswers(port: number): Promise<boolean> {
  try {
    return (await redisCommand(port, ['PING'], 200)).includes('PONG');
  } catch {
    return false;
  }
}

describe('ai-rate-limiting policy redis with a paused or slow Redis (R-RL-30)', { skip: redisBinary() ? false : REDIS_SKIP }, () => {
  let mock: MockLlm;
  let gw: GatewayProcess;
  before(async () => {
    mock = await startMockLlm();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'gpt-4', 'ok', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }) }));
    gw = await startGateway();
  });
  after(async () => {
    await gw?.stop();
    await mock?.close();
  });

  async function setup(redis: RedisServer, name: string): Promise<void> {
    const common = { policy: 'redis', redis_host: '127.0.0.1', redis_port: redis.port, redis_timeout: 1000 };
    for (const [id, body] of [
      [`${name}-strict`, route(mock, `/${name}/strict`, common)],
      [`${name}-lenient`, route(mock, `/${name}/lenient`, { ...common, allow_degradation: true })],
      [`${name}-free`, route(mock, `/${name}/free`)],
    ] as const) {
      const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, body);
      assert.ok(r.status === 200 || r.status === 201, `${r.status} ${r.text}`);
    }
    await until(async () => (await post(gw, `/${name}/strict`)).status === 200, 10_000, 'the strict route served while Redis is fine', 100);
    assert.equal((await post(gw, `/${name}/lenient`)).status, 200);
  }

  async function duringFault(name: string): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const s = await post(gw, `/${name}/strict`);
      assert.equal(s.status, 500, s.text);
      assert.equal(JSON.parse(s.text).error_msg, 'failed to limit count');
      assert.ok(s.ms < NO_HANG_MS, `strict: no hang (${s.ms} ms)`);
      const l = await post(gw, `/${name}/lenient`);
      assert.equal(l.status, 200, 'allow_degradation serves the request unlimited');
      assert.ok(l.ms < NO_HANG_MS, `lenient: no hang (${l.ms} ms)`);
      const f = await post(gw, `/${name}/free`);
      assert.equal(f.status, 200);
      assert.ok(f.ms < NO_HANG_MS, `a route without the limit is not slowed (${f.ms} ms)`);
    }
  }

  async function afterFault(name: string): Promise<void> {
    // limiting resumes on the same counters: remaining keeps going down
    let last: Awaited<ReturnType<typeof post>> | undefined;
    await until(async () => (last = await post(gw, `/${name}/strict`)).status === 200, 10_000, 'strict route served again', 100);
    const next = await post(gw, `/${name}/strict`);
    assert.equal(next.status, 200);
    assert.ok(Number(next.remaining) < Number(last!.remaining), `the quota is counted again (${last!.remaining} then ${next.remaining})`);
    assert.equal(gw.proc.exitCode, null, 'the gateway is still running');
  }

  test('R-RL-30 Redis paused (SIGSTOP): bounded answers both ways, then limiting resumes after SIGCONT', async () => {
    const redis = await startRedis();
    try {
      await setup(redis, 'paused');
      redis.proc.kill('SIGSTOP');
      try {
        await duringFault('paused');
      } finally {
        redis.proc.kill('SIGCONT');
      }
      await afterFault('paused');
    } finally {
      await redis.stop();
    }
  });

  test('R-RL-30 Redis slow (DEBUG SLEEP blocks it for 10 s): bounded answers both ways, then limiting resumes', async () => {
    const redis = await startRedis({ args: ['--enable-debug-command', 'yes'] });
    try {
      await setup(redis, 'slow');
      const sleeping = redisCommand(redis.port, ['DEBUG', 'SLEEP', '10'], 30_000).catch((err: Error) => err.message);
      await until(async () => !(await redisAnswers(redis.port)), 3000, 'Redis busy in DEBUG SLEEP', 20);
      await duringFault('slow');
      assert.match(await sleeping, /\+OK/);
      await afterFault('slow');
    } finally {
      await redis.stop();
    }
  });
});
