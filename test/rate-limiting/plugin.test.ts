// Unit tests of the ai-rate-limiting plugin object: phases driven with a
// minimal request context, counters in a real memory (or Redis) state.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { aiRateLimiting, isHeaderToken, type CompiledRateLimit, type AiRateLimitingConf } from '../../src/plugins/ai-rate-limiting/index.js';
import { validateSchema } from '../../src/schema/validate.js';
import { createMemoryState } from '../../src/state/memory.js';
import type { SharedState } from '../../src/state/types.js';
import type { RequestContext, Reply, LlmState } from '../../src/core/types.js';
import { memLog } from '../helpers/wait.js';
import { RedisPool } from '../../src/state/redis.js';
import { startRedis, redisBinary, REDIS_SKIP } from '../helpers/redis.js';
import { gatewayServices } from '../helpers/gateway-services.js';

interface Env {
  state: SharedState;
  log: ReturnType<typeof memLog>;
}

/** the Redis clients of the tests with policy redis, as a gateway owns them */
const redisPool = new RedisPool();

function newEnv(): Env {
  return { state: createMemoryState(), log: memLog() };
}

function compile(conf: AiRateLimitingConf, env: Env, parentKey = '/apisix/routes/1', confHash?: string): CompiledRateLimit {
  const v = validateSchema(aiRateLimiting.schema, conf);
  assert.ok(v.ok, v.ok ? '' : v.error);
  const err = aiRateLimiting.check?.(v.value, 'route');
  assert.equal(err, undefined);
  return aiRateLimiting.compile!(v.value, {
    parentKey,
    confHash: confHash ?? JSON.stringify(conf),
    state: env.state,
    health: undefined as any,
    transport: undefined as any,
    ...gatewayServices(),
    redis: redisPool,
    log: env.log,
  });
}

function fakeCtx(env: Env, vars: Record<string, string | number> = {}): RequestContext & { log: ReturnType<typeof memLog> } {
  const llm: LlmState = {
    requestType: 'ai_chat', requestModel: '', model: '', promptTokens: 0, completionTokens: 0, totalTokens: 0,
    timeToFirstTokenMs: 0, logSummaries: false, logPayloads: false,
  };
  return { getVar: (n: string) => vars[n], extraResponseHeaders: {}, llm, log: env.log } as any;
}

type Usage = { prompt?: number; completion?: number; total?: number; raw?: Record<string, unknown> | null };

/** one request through rewrite → (selection) → access → log; returns the reply (undefined = served) */
async function request(c: CompiledRateLimit, env: Env, instance: string | undefined, usage: Usage = { total: 10 }, vars: Record<string, string | number> = {}) {
  const ctx = fakeCtx(env, vars);
  await aiRateLimiting.rewrite!(ctx, c);
  if (instance) ctx.llm.instanceName = instance;
  const reply = (await aiRateLimiting.access!(ctx, c)) as Reply | undefined;
  if (!reply && usage.raw !== null) {
    ctx.llm.promptTokens = usage.prompt ?? 0;
    ctx.llm.completionTokens = usage.completion ?? 0;
    ctx.llm.totalTokens = usage.total ?? (usage.prompt ?? 0) + (usage.completion ?? 0);
    ctx.llm.rawUsage = usage.raw ?? { prompt_tokens: ctx.llm.promptTokens, completion_tokens: ctx.llm.completionTokens, total_tokens: ctx.llm.totalTokens };
  }
  await aiRateLimiting.log!(ctx, c);
  return { reply, headers: ctx.extraResponseHeaders, ctx };
}

test('R-RL-13 R-SCN-11 quota headers 30/20/10/0 then rejected 503 with the default page (ai-proxy openai)', async () => {
  const env = newEnv();
  const c = compile({ limit: 30, time_window: 60 }, env);
  const name = 'ai-proxy-openai';
  const seen: [string | undefined, number][] = [];
  for (let i = 0; i < 4; i++) {
    const { reply, headers } = await request(c, env, name, { total: 10 });
    seen.push([headers[`X-AI-RateLimit-Remaining-${name}`], reply?.status ?? 200]);
    if (i === 0) {
      assert.deepEqual(headers, {
        'X-AI-RateLimit-Limit-ai-proxy-openai': '30',
        'X-AI-RateLimit-Remaining-ai-proxy-openai': '30',
        'X-AI-RateLimit-Reset-ai-proxy-openai': '60',
      });
    }
    if (i === 3) assert.deepEqual(reply, { status: 503, kind: 'page', headers: undefined });
  }
  assert.deepEqual(seen, [['30', 200], ['20', 200], ['10', 200], ['0', 503]]);
});

test('R-RL-13 completion_tokens strategy: 20/15/10/5/0, statuses 200x4 then 503', async () => {
  const env = newEnv();
  const c = compile({ limit: 20, time_window: 45, limit_strategy: 'completion_tokens' }, env);
  const seen: [string | undefined, number, string | undefined][] = [];
  for (let i = 0; i < 5; i++) {
    const { reply, headers } = await request(c, env, 'ai-proxy-openai', { prompt: 100, completion: 5 });
    seen.push([headers['X-AI-RateLimit-Remaining-ai-proxy-openai'], reply?.status ?? 200, headers['X-AI-RateLimit-Limit-ai-proxy-openai']]);
  }
  assert.deepEqual(seen.map((s) => s[0]), ['20', '15', '10', '5', '0']);
  assert.deepEqual(seen.map((s) => s[1]), [200, 200, 200, 200, 503]);
  assert.ok(seen.every((s) => s[2] === '20'));
});

test('R-RL-7 prompt_tokens strategy charges prompt tokens; a cost above the remaining quota is served and charged (seed: 31 on 10)', async () => {
  const env = newEnv();
  const c = compile({ instances: [{ name: 'openai-instance', limit: 10, time_window: 60 }] }, env);
  const r1 = await request(c, env, 'openai-instance', { prompt: 23, completion: 8, total: 31 });
  assert.equal(r1.reply, undefined);
  assert.equal(r1.headers['X-AI-RateLimit-Remaining-openai-instance'], '10');
  const r2 = await request(c, env, 'openai-instance');
  assert.equal(r2.reply?.status, 503);
  assert.equal(r2.headers['X-AI-RateLimit-Remaining-openai-instance'], '0');
  assert.equal(r2.headers['X-AI-RateLimit-Limit-openai-instance'], '10');

  const c2 = compile({ limit: 100, time_window: 60, limit_strategy: 'prompt_tokens' }, env);
  await request(c2, env, 'x', { prompt: 23, completion: 8 });
  const r3 = await request(c2, env, 'x');
  assert.equal(r3.headers['X-AI-RateLimit-Remaining-x'], '77');
});

test('R-RL-3 which limit applies: instances entry, else top-level per instance, else unlimited; rules replace both', async () => {
  const env = newEnv();
  const c = compile({ limit: 20, time_window: 60, instances: [{ name: 'gpt3', limit: 50, time_window: 30 }] }, env);
  const a = await request(c, env, 'gpt3', { total: 10 });
  assert.equal(a.headers['X-AI-RateLimit-Limit-gpt3'], '50');
  assert.equal(a.headers['X-AI-RateLimit-Reset-gpt3'], '30');
  const b = await request(c, env, 'gpt4', { total: 10 });
  assert.equal(b.headers['X-AI-RateLimit-Limit-gpt4'], '20');
  const b2 = await request(c, env, 'other', { total: 10 });
  assert.equal(b2.headers['X-AI-RateLimit-Remaining-other'], '20', 'top-level quota is separate per instance');
  const b3 = await request(c, env, 'gpt4', { total: 10 });
  assert.equal(b3.headers['X-AI-RateLimit-Remaining-gpt4'], '10');

  const only = compile({ instances: [{ name: 'limited', limit: 5, time_window: 60 }] }, env);
  for (let i = 0; i < 3; i++) {
    const u = await request(only, env, 'free', { total: 1000 });
    assert.equal(u.reply, undefined, 'an instance without a limit is unlimited');
    assert.deepEqual(u.headers, {});
  }

  const rules = compile({ rules: [{ count: 15, time_window: 60, key: '$remote_addr' }] }, env);
  const r = await request(rules, env, 'gpt3', { total: 10 }, { remote_addr: '10.0.0.1' });
  assert.deepEqual(Object.keys(r.headers).sort(), ['X-AI-1-RateLimit-Limit', 'X-AI-1-RateLimit-Remaining', 'X-AI-1-RateLimit-Reset']);
});

test('R-RL-5 counter identity: resource key and configuration; identical configs on two consumers are separate', async () => {
  const env = newEnv();
  const conf: AiRateLimitingConf = { instances: [{ name: 'openai-instance', limit: 10, time_window: 60 }] };
  const john = compile(conf, env, '/apisix/consumers/johndoe', 'h1');
  const jane = compile(conf, env, '/apisix/consumers/janedoe', 'h1');
  await request(john, env, 'openai-instance', { total: 31 });
  assert.equal((await request(john, env, 'openai-instance')).reply?.status, 503);
  assert.equal((await request(jane, env, 'openai-instance', { total: 1 })).reply, undefined, 'janedoe unaffected');
  // re-compiling the same configuration on the same resource keeps the counter
  const johnAgain = compile(conf, env, '/apisix/consumers/johndoe', 'h1');
  assert.equal((await request(johnAgain, env, 'openai-instance')).reply?.status, 503);
  // a changed configuration starts fresh counters
  const johnChanged = compile({ ...conf, rejected_code: 429 }, env, '/apisix/consumers/johndoe', 'h2');
  assert.equal((await request(johnChanged, env, 'openai-instance')).reply, undefined);
});

test('R-RL-6 R-PIPE-11 no picked instance: not checked, not charged, no headers', async () => {
  const env = newEnv();
  const c = compile({ limit: 1, time_window: 60 }, env);
  for (let i = 0; i < 3; i++) {
    const { reply, headers } = await request(c, env, undefined, { total: 100 });
    assert.equal(reply, undefined);
    assert.deepEqual(headers, {});
  }
  assert.deepEqual(await env.state.peek('anything'), { used: 0 });
  assert.equal((await request(c, env, 'i', { total: 1 })).headers['X-AI-RateLimit-Remaining-i'], '1');
});

test('R-RL-7 a request rejected by ai-rate-limiting is not charged', async () => {
  const env = newEnv();
  const c = compile({ limit: 10, time_window: 60 }, env);
  await request(c, env, 'i', { total: 10 });
  const r = await request(c, env, 'i', { total: 10 });
  assert.equal(r.reply?.status, 503);
  assert.equal(r.ctx.llm.rateLimitRejected, true);
  // simulate the log phase having usage anyway: still not charged
  r.ctx.llm.totalTokens = 50;
  await aiRateLimiting.log!(r.ctx, c);
  const ctx = fakeCtx(env);
  assert.equal(await (async () => { await aiRateLimiting.rewrite!(ctx, c); return ctx.instanceHasQuota!('i'); })(), false);
  assert.equal(ctx.extraResponseHeaders['X-AI-RateLimit-Remaining-i'], '0');
});

test('R-RL-8 no usage: not charged and `failed to get token usage for llm service` is logged; cost 0 not charged', async () => {
  const env = newEnv();
  const c = compile({ limit: 10, time_window: 60 }, env);
  await request(c, env, 'i', { raw: null });
  assert.ok(env.log.lines.includes('[error] failed to get token usage for llm service'), env.log.lines.join('\n'));
  const r = await request(c, env, 'i', { total: 0, raw: {} });
  assert.equal(r.headers['X-AI-RateLimit-Remaining-i'], '10');
  const r2 = await request(c, env, 'i', { total: 0 });
  assert.equal(r2.headers['X-AI-RateLimit-Remaining-i'], '10');
  assert.equal(r2.headers['X-AI-RateLimit-Reset-i'], '60', 'no window started by a zero cost');
});

test('R-RL-9 expression strategy charges cost_expr over the raw usage', async () => {
  const env = newEnv();
  const c = compile({
    limit: 1000, time_window: 60, limit_strategy: 'expression',
    cost_expr: 'input_tokens + cache_read_input_tokens * 0.1 + cache_creation_input_tokens * 1.25 + output_tokens',
  }, env);
  await request(c, env, 'claude', { total: 80, raw: { input_tokens: 50, cache_read_input_tokens: 200, cache_creation_input_tokens: 100, output_tokens: 30 } });
  assert.equal((await request(c, env, 'claude', { raw: null })).headers['X-AI-RateLimit-Remaining-claude'], '775');
  const neg = compile({ limit: 1000, time_window: 60, limit_strategy: 'expression', cost_expr: 'input_tokens - cache_read_input_tokens' }, env);
  await request(neg, env, 'claude', { raw: { input_tokens: 50, cache_read_input_tokens: 200 } });
  assert.equal((await request(neg, env, 'claude', { raw: null })).headers['X-AI-RateLimit-Remaining-claude'], '1000');
  const bad = compile({ limit: 1000, time_window: 60, limit_strategy: 'expression', cost_expr: 'input_tokens / 0' }, env);
  await request(bad, env, 'claude', { raw: { input_tokens: 5 } });
  assert.ok(env.log.lines.some((l) => /\[error\] failed to evaluate cost_expr/.test(l)), env.log.lines.join('\n'));
});

test('R-RL-10 R-FB-2 instanceHasQuota: dry-run check setting that instance\'s headers; several instances\' headers may appear', async () => {
  const env = newEnv();
  const c = compile({ instances: [{ name: 'a', limit: 10, time_window: 60 }, { name: 'b', limit: 50, time_window: 60 }] }, env);
  await request(c, env, 'a', { total: 10 });
  const ctx = fakeCtx(env);
  await aiRateLimiting.rewrite!(ctx, c);
  assert.equal(await ctx.instanceHasQuota!('a'), false);
  assert.equal(await ctx.instanceHasQuota!('b'), true);
  assert.equal(await ctx.instanceHasQuota!('unlimited'), true);
  assert.equal(ctx.extraResponseHeaders['X-AI-RateLimit-Remaining-a'], '0');
  assert.equal(ctx.extraResponseHeaders['X-AI-RateLimit-Remaining-b'], '50');
  assert.equal(ctx.extraResponseHeaders['X-AI-RateLimit-Limit-unlimited'], undefined);
  // the checks charged nothing
  assert.equal(await ctx.instanceHasQuota!('b'), true);
  assert.equal(ctx.extraResponseHeaders['X-AI-RateLimit-Remaining-b'], '50');
  // rules take no part in selection
  const rules = compile({ rules: [{ count: 1, time_window: 60, key: 'k' }] }, env);
  const ctx2 = fakeCtx(env);
  await aiRateLimiting.rewrite!(ctx2, rules);
  assert.equal(await ctx2.instanceHasQuota!('a'), true);
  assert.deepEqual(ctx2.extraResponseHeaders, {});
});

test('R-RL-12 rejected_code and rejected_msg', async () => {
  const env = newEnv();
  const c = compile({ limit: 5, time_window: 60, rejected_code: 429, rejected_msg: 'token quota exceeded' }, env);
  await request(c, env, 'i', { total: 5 });
  const r = await request(c, env, 'i');
  assert.deepEqual(r.reply, { status: 429, kind: 'json', body: { error_msg: 'token quota exceeded' }, headers: undefined });
  const c2 = compile({ limit: 5, time_window: 60, rejected_code: 429 }, env);
  await request(c2, env, 'i', { total: 5 });
  assert.deepEqual((await request(c2, env, 'i')).reply, { status: 429, kind: 'page', headers: undefined });
});

test('R-RL-13 show_limit_quota_header false, and instance names that are not header tokens get no headers', async () => {
  const env = newEnv();
  const c = compile({ limit: 5, time_window: 60, show_limit_quota_header: false }, env);
  assert.deepEqual((await request(c, env, 'i', { total: 5 })).headers, {});
  assert.equal((await request(c, env, 'i')).reply?.status, 503);
  const c2 = compile({ limit: 5, time_window: 60 }, env);
  assert.deepEqual((await request(c2, env, 'my instance/1', { total: 5 })).headers, {});
  assert.equal((await request(c2, env, 'my instance/1')).reply?.status, 503, 'still limited');
  assert.equal(isHeaderToken('openai-instance'), true);
  assert.equal(isHeaderToken('a b'), false);
  assert.equal(isHeaderToken('ünï'), false);
  assert.equal(isHeaderToken(''), false);
});

test('R-RL-15 template limits resolved per request; counter keyed by configuration; non-numbers answer 500', async () => {
  const env = newEnv();
  const c = compile({ limit: '${http_x_limit ?? 30}', time_window: '$http_x_window' }, env);
  const r1 = await request(c, env, 'i', { total: 10 }, { http_x_window: '60' });
  assert.equal(r1.headers['X-AI-RateLimit-Limit-i'], '30');
  assert.equal(r1.headers['X-AI-RateLimit-Reset-i'], '60');
  const r2 = await request(c, env, 'i', { total: 10 }, { http_x_limit: '100', http_x_window: '60' });
  assert.equal(r2.headers['X-AI-RateLimit-Limit-i'], '100');
  assert.equal(r2.headers['X-AI-RateLimit-Remaining-i'], '90', 'same counter whatever the resolved numbers');
  const bad = await request(c, env, 'i', { total: 10 }, { http_x_limit: 'lots', http_x_window: '60' });
  assert.deepEqual(bad.reply, { status: 500, kind: 'page', headers: undefined });
  const missing = await request(c, env, 'i', { total: 10 });
  assert.equal(missing.reply?.status, 500);
  const ctx = fakeCtx(env, { http_x_limit: 'lots', http_x_window: '60' });
  await aiRateLimiting.rewrite!(ctx, c);
  assert.equal(await ctx.instanceHasQuota!('i'), false, 'counts as exhausted during selection');
});

test('R-RL-20 rules: rendered keys, header prefixes, skipping, first exhausted rule rejects, charging every rule', async () => {
  const env = newEnv();
  const c = compile({
    rules: [
      { count: 20, time_window: 60, key: '$consumer_name', header_prefix: 'User' },
      { count: 100, time_window: 60, key: 'route-wide' },
      { count: '$http_x_count', time_window: 60, key: '$remote_addr' },
    ],
  }, env);
  const john = { consumer_name: 'john', remote_addr: '1.1.1.1' };
  const r1 = await request(c, env, 'i', { total: 15 }, john);
  assert.equal(r1.reply, undefined);
  assert.equal(r1.headers['X-AI-User-RateLimit-Limit'], '20');
  assert.equal(r1.headers['X-AI-User-RateLimit-Remaining'], '20');
  assert.equal(r1.headers['X-AI-User-RateLimit-Reset'], '60');
  assert.equal(r1.headers['X-AI-2-RateLimit-Limit'], undefined, 'a key with no variable resolves nothing: skipped');
  assert.equal(r1.headers['X-AI-3-RateLimit-Limit'], undefined, 'count not a number: skipped');
  const r2 = await request(c, env, 'i', { total: 15 }, { ...john, http_x_count: '50' });
  assert.equal(r2.headers['X-AI-User-RateLimit-Remaining'], '5');
  assert.equal(r2.headers['X-AI-3-RateLimit-Remaining'], '50');
  const r3 = await request(c, env, 'i', { total: 15 }, { ...john, http_x_count: '50' });
  assert.equal(r3.reply?.status, 503);
  assert.equal(r3.headers['X-AI-User-RateLimit-Remaining'], '0');
  assert.equal(r3.headers['X-AI-3-RateLimit-Remaining'], undefined, 'checking stops at the rejecting rule');
  // other key, own counter; the third rule was charged by r2 for 1.1.1.1
  const r4 = await request(c, env, 'i', { total: 1 }, { consumer_name: 'jane', remote_addr: '1.1.1.1', http_x_count: '50' });
  assert.equal(r4.headers['X-AI-User-RateLimit-Remaining'], '20');
  assert.equal(r4.headers['X-AI-3-RateLimit-Remaining'], '35');
  // no rule applies → 500
  const none = await request(c, env, 'i', { total: 1 }, {});
  assert.deepEqual(none.reply, { status: 500, kind: 'page', headers: undefined });
  // default prefix is the 1-based index
  const c2 = compile({ rules: [{ count: 20, time_window: 60, key: '$remote_addr' }] }, env);
  assert.equal((await request(c2, env, 'i', { total: 1 }, john)).headers['X-AI-1-RateLimit-Limit'], '20');
});

test('R-RL-11 window edge: a 1 s window ends, counts reset, the next charge opens a new window', async () => {
  const env = newEnv();
  const c = compile({ limit: 10, time_window: 1 }, env);
  assert.equal((await request(c, env, 'i', { total: 10 })).reply, undefined);
  const r = await request(c, env, 'i');
  assert.equal(r.reply?.status, 503);
  assert.equal(r.headers['X-AI-RateLimit-Reset-i'], '1');
  await new Promise((res) => setTimeout(res, 1100));
  const after = await request(c, env, 'i', { total: 4 });
  assert.equal(after.reply, undefined);
  assert.equal(after.headers['X-AI-RateLimit-Remaining-i'], '10');
  assert.equal((await request(c, env, 'i', { total: 0 })).headers['X-AI-RateLimit-Remaining-i'], '6');
});

describe('R-RL-30 redis policy in the plugin', { skip: redisBinary() ? false : REDIS_SKIP }, () => {
  test('R-RL-30 shared quota across two compiled copies (two nodes); redis down → allow_degradation decides, one log line, no hang', async (t) => {
    const redis = await startRedis();
    t.after(async () => { await redisPool.close(); await redis.stop(); });
    const base = { limit: 30, time_window: 60, policy: 'redis' as const, redis_host: '127.0.0.1', redis_port: redis.port, redis_timeout: 300 };
    const envA = newEnv();
    const envB = newEnv();
    const a = compile(base, envA, '/apisix/routes/r1', 'same');
    const b = compile(base, envB, '/apisix/routes/r1', 'same');
    await request(a, envA, 'i', { total: 10 });
    assert.equal((await request(b, envB, 'i', { total: 10 })).headers['X-AI-RateLimit-Remaining-i'], '20');
    assert.equal((await request(a, envA, 'i', { total: 10 })).headers['X-AI-RateLimit-Remaining-i'], '10');
    assert.equal((await request(b, envB, 'i')).reply?.status, 503);

    const strict = compile(base, envA, '/apisix/routes/strict', 's');
    const lenient = compile({ ...base, allow_degradation: true }, envA, '/apisix/routes/lenient', 'l');
    await redis.kill();
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const s = await request(strict, envA, 'i');
      assert.deepEqual(s.reply, { status: 500, kind: 'json', body: { error_msg: 'failed to limit count' }, headers: undefined });
      const l = await request(lenient, envA, 'i');
      assert.equal(l.reply, undefined);
      assert.ok(Date.now() - t0 < 1500, 'bounded by redis_timeout');
    }
    const ctx = fakeCtx(envA);
    await aiRateLimiting.rewrite!(ctx, strict);
    assert.equal(await ctx.instanceHasQuota!('i'), true, 'selection leaves the store failure to the access check');
    const errs = envA.log.lines.filter((l) => l.startsWith('[error]'));
    assert.equal(errs.length, 1, errs.join('\n'));
    assert.match(errs[0]!, /^\[error\] ai-rate-limiting: redis 127\.0\.0\.1:\d+ unavailable/);
    aiRateLimiting.destroy!(a); aiRateLimiting.destroy!(b); aiRateLimiting.destroy!(strict); aiRateLimiting.destroy!(lenient);
  });

  test('R-RL-30 redis_password (also as an $ENV:// reference); a wrong password fails like an unreachable store', async (t) => {
    const redis = await startRedis({ password: 's3cret-pw' });
    t.after(async () => { await redisPool.close(); await redis.stop(); delete process.env.SY_TEST_REDIS_PW; });
    process.env.SY_TEST_REDIS_PW = 's3cret-pw';
    const env = newEnv();
    const base = { limit: 30, time_window: 60, policy: 'redis' as const, redis_host: '127.0.0.1', redis_port: redis.port, redis_timeout: 500 };
    const plain = compile({ ...base, redis_password: 's3cret-pw' }, env, '/apisix/routes/pw', 'p');
    await request(plain, env, 'i', { total: 10 });
    assert.equal((await request(plain, env, 'i')).headers['X-AI-RateLimit-Remaining-i'], '20');
    const ref = compile({ ...base, redis_password: '$ENV://SY_TEST_REDIS_PW' }, env, '/apisix/routes/pw', 'p');
    assert.equal((await request(ref, env, 'i')).headers['X-AI-RateLimit-Remaining-i'], '10', 'same counter, same server');
    const wrong = compile({ ...base, redis_password: 'nope' }, env, '/apisix/routes/pw', 'p');
    const t0 = Date.now();
    const r = await request(wrong, env, 'i');
    assert.equal(r.reply?.status, 500);
    assert.ok(Date.now() - t0 < 1500);
    assert.ok(env.log.lines.some((l) => /^\[error\] ai-rate-limiting: redis 127\.0\.0\.1:\d+ unavailable: .*(WRONGPASS|invalid)/i.test(l)), env.log.lines.join('\n'));
    for (const c of [plain, ref, wrong]) aiRateLimiting.destroy!(c);
  });
});
