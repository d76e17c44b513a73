// End-to-end: the real CLI (test/helpers/gateway.ts), the Admin API and the
// mock LLM. Counters are local (memory); Redis scenarios are in
// e2e-redis.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getEncoding } from 'js-tiktoken';
import { promptText } from '../../src/llm/tokens.js';
import { until } from '../helpers/wait.js';

const CHAT = {
  messages: [
    { role: 'system', content: 'You are a mathematician' },
    { role: 'user', content: 'What is 1+1?' },
  ],
};

interface Res { status: number; headers: Headers; text: string; json: any }

async function post(gw: GatewayProcess, path: string, body: unknown = CHAT, headers: Record<string, string> = {}): Promise<Res> {
  const res = await fetch(gw.proxyUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

async function put(gw: GatewayProcess, path: string, body: unknown): Promise<void> {
  const r = await gw.admin('PUT', path, body);
  assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${r.text}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openaiInstance(mock: MockLlm, extra: Record<string, unknown> = {}) {
  return {
    name: 'openai-instance',
    provider: 'openai',
    weight: 0,
    priority: 0,
    auth: { header: { Authorization: 'Bearer sk-openai' } },
    options: { model: 'gpt-4' },
    override: { endpoint: mock.url },
    ...extra,
  };
}

function deepseekInstance(mock: MockLlm, extra: Record<string, unknown> = {}) {
  return {
    name: 'deepseek-instance',
    provider: 'deepseek',
    weight: 0,
    priority: 0,
    auth: { header: { Authorization: 'Bearer sk-deepseek' } },
    options: { model: 'deepseek-chat' },
    override: { endpoint: mock.url },
    ...extra,
  };
}

/** usage with the given total (prompt = total - completion) */
const usage = (total: number, completion = Math.floor(total / 2)) => ({ prompt_tokens: total - completion, completion_tokens: completion, total_tokens: total });

describe('ai-rate-limiting end to end (local counters)', () => {
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

  test('R-RL-13 R-SCN-11 ai-proxy: remaining 30/20/10/0, statuses 200,200,200,503; first headers 30/30/60', async () => {
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'gpt-4', 'ok', usage(10)) }));
    await put(gw, '/apisix/admin/routes/rl-13', {
      uri: '/rl13',
      plugins: {
        'ai-proxy': {
          provider: 'openai',
          auth: { header: { Authorization: 'Bearer sk' } },
          options: { model: 'gpt-4' },
          override: { endpoint: mock.url },
        },
        'ai-rate-limiting': { limit: 30, time_window: 60 },
      },
    });
    const seen: [number, string | null][] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(gw, '/rl13');
      seen.push([r.status, r.headers.get('x-ai-ratelimit-remaining-ai-proxy-openai')]);
      if (i === 0) {
        assert.equal(r.headers.get('x-ai-ratelimit-limit-ai-proxy-openai'), '30');
        assert.equal(r.headers.get('x-ai-ratelimit-reset-ai-proxy-openai'), '60');
      }
      if (i === 3) {
        // R-ERR-1: the rejection on an AI route is in the OpenAI error shape (APISIX sends its HTML page)
        assert.equal(r.json.error_msg, '503 Service Temporarily Unavailable');
        assert.equal(r.json.error.type, 'server_error');
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      }
    }
    assert.deepEqual(seen, [[200, '30'], [200, '20'], [200, '10'], [503, '0']]);
  });

  test('R-RL-13 completion_tokens strategy: remaining 20/15/10/5/0, 200x4 then 503', async () => {
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'gpt-4', 'ok', { prompt_tokens: 50, completion_tokens: 5, total_tokens: 55 }) }));
    await put(gw, '/apisix/admin/routes/rl-13b', {
      uri: '/rl13b',
      plugins: {
        'ai-proxy': {
          provider: 'openai',
          auth: { header: { Authorization: 'Bearer sk' } },
          options: { model: 'gpt-4' },
          override: { endpoint: mock.url },
        },
        'ai-rate-limiting': { limit: 20, time_window: 45, limit_strategy: 'completion_tokens' },
      },
    });
    const seen: [number, string | null][] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(gw, '/rl13b');
      seen.push([r.status, r.headers.get('x-ai-ratelimit-remaining-ai-proxy-openai')]);
    }
    assert.deepEqual(seen, [[200, '20'], [200, '15'], [200, '10'], [200, '5'], [503, '0']]);
  });

  test('R-RL-14 R-FB-2 R-FB-7 fallback example: 2 by gpt4, 5 by gpt3, then 503 `all servers tried` x2', async () => {
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'x', 'ok', usage(10)) }));
    const inst = (name: string, priority: number, model: string) => ({
      name, provider: 'openai', weight: 1, priority,
      auth: { header: { Authorization: 'Bearer sk' } },
      options: { model },
      override: { endpoint: mock.url },
    });
    await put(gw, '/apisix/admin/routes/rl-14', {
      uri: '/rl14',
      plugins: {
        'ai-proxy-multi': {
          fallback_strategy: 'instance_health_and_rate_limiting',
          instances: [inst('openai-gpt4', 1, 'gpt-4'), inst('openai-gpt3', 0, 'gpt-3')],
        },
        'ai-rate-limiting': { limit: 20, time_window: 60, instances: [{ name: 'openai-gpt3', limit: 50, time_window: 60 }] },
      },
    });
    const statuses: number[] = [];
    const models: string[] = [];
    let last!: Res;
    for (let i = 0; i < 9; i++) {
      last = await post(gw, '/rl14');
      statuses.push(last.status);
      if (last.status === 200) models.push(last.json.model);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 503, 503]);
    assert.deepEqual(models, ['gpt-4', 'gpt-4', 'gpt-3', 'gpt-3', 'gpt-3', 'gpt-3', 'gpt-3']);
    // R-ERR-1: APISIX's text, as error_msg of the OpenAI error shape
    assert.equal(last.json.error_msg, 'all servers tried');
    assert.equal(last.json.error.message, 'all servers tried');
    assert.equal(last.headers.get('x-ai-ratelimit-remaining-openai-gpt4'), '0');
    assert.equal(last.headers.get('x-ai-ratelimit-remaining-openai-gpt3'), '0');
    assert.equal(last.headers.get('x-ai-ratelimit-limit-openai-gpt3'), '50');
  });

  test('R-SCN-2 R-RL-3 seed: instance priority and rate limiting (fallback to deepseek, headers, back after the window)', async () => {
    mock.reset();
    const route = (id: string, uri: string, timeWindow: number, fallback: boolean) => ({
      id,
      uri,
      methods: ['POST'],
      plugins: {
        'ai-proxy-multi': {
          ...(fallback ? { fallback_strategy: ['rate_limiting'] } : {}),
          instances: [openaiInstance(mock, { priority: 1 }), deepseekInstance(mock)],
        },
        'ai-rate-limiting': {
          instances: [{ name: 'openai-instance', limit: 10, time_window: timeWindow }],
          limit_strategy: 'total_tokens',
        },
      },
    });
    // the seed's form: PUT on the collection with the id in the body
    await put(gw, '/apisix/admin/routes', route('ai-proxy-multi-route', '/anything', 60, true));
    const r1 = await post(gw, '/anything');
    assert.equal(r1.status, 200);
    assert.equal(r1.json.model, 'gpt-4');
    assert.equal(r1.headers.get('x-ai-ratelimit-limit-openai-instance'), '10');
    assert.equal(r1.headers.get('x-ai-ratelimit-remaining-openai-instance'), '10');
    assert.equal(r1.headers.get('x-ai-ratelimit-reset-openai-instance'), '60');
    const r2 = await post(gw, '/anything', { messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'Explain Newton law' }] });
    assert.equal(r2.status, 200);
    assert.equal(r2.json.model, 'deepseek-chat');
    assert.equal(r2.headers.get('x-ai-ratelimit-remaining-openai-instance'), '0');
    for (let i = 0; i < 3; i++) assert.equal((await post(gw, '/anything')).json.model, 'deepseek-chat');

    // short window: back to openai-instance once the window ended
    await put(gw, '/apisix/admin/routes/seed-short', route('seed-short', '/short', 2, true));
    assert.equal((await post(gw, '/short')).json.model, 'gpt-4');
    const s2 = await post(gw, '/short');
    assert.equal(s2.json.model, 'deepseek-chat');
    const reset = Number(s2.headers.get('x-ai-ratelimit-reset-openai-instance'));
    assert.ok(reset >= 1 && reset <= 2, `reset ${reset}`);
    await sleep(2100);
    const s3 = await post(gw, '/short');
    assert.equal(s3.json.model, 'gpt-4');
    assert.equal(s3.headers.get('x-ai-ratelimit-remaining-openai-instance'), '10');

    // control: without fallback_strategy the second request is rejected with the default page
    await put(gw, '/apisix/admin/routes/seed-control', route('seed-control', '/control', 60, false));
    assert.equal((await post(gw, '/control')).json.model, 'gpt-4');
    const c2 = await post(gw, '/control');
    assert.equal(c2.status, 503);
    assert.match(c2.text, /503 Service Temporarily Unavailable/);
    assert.equal(c2.headers.get('x-ai-ratelimit-remaining-openai-instance'), '0');
    assert.equal(c2.headers.get('x-ai-ratelimit-limit-openai-instance'), '10');
  });

  test('R-SCN-3 R-RL-4 R-RL-5 seed: rate limit by consumers johndoe/janedoe with key-auth', async () => {
    mock.reset();
    const consumer = (username: string, instance: string) => ({
      username,
      plugins: {
        'ai-rate-limiting': {
          instances: [{ name: instance, limit: 10, time_window: 60 }],
          rejected_code: 429,
          limit_strategy: 'total_tokens',
        },
      },
    });
    await put(gw, '/apisix/admin/consumers', consumer('johndoe', 'openai-instance'));
    await put(gw, '/apisix/admin/consumers/johndoe/credentials', { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'john-key' } } });
    await put(gw, '/apisix/admin/consumers', consumer('janedoe', 'deepseek-instance'));
    await put(gw, '/apisix/admin/consumers/janedoe/credentials', { id: 'cred-jane-key-auth', plugins: { 'key-auth': { key: 'jane-key' } } });
    await put(gw, '/apisix/admin/routes', {
      id: 'ai-proxy-multi-consumer-route',
      uri: '/consumers',
      methods: ['POST'],
      plugins: {
        'key-auth': {},
        'ai-proxy-multi': {
          fallback_strategy: ['rate_limiting'],
          instances: [openaiInstance(mock), deepseekInstance(mock)],
        },
      },
    });
    const missing = await post(gw, '/consumers');
    assert.equal(missing.status, 401);
    assert.deepEqual(missing.json, { message: 'Missing API key in request' });
    const wrong = await post(gw, '/consumers', CHAT, { apikey: 'wrong' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, { message: 'Invalid API key in request' });

    const john = async () => post(gw, '/consumers', CHAT, { apikey: 'john-key' });
    const jane = async () => post(gw, '/consumers', CHAT, { apikey: 'jane-key' });
    // johndoe: once served by openai-instance (31 tokens > 10), only deepseek in the window
    let johnOpenai = 0;
    for (let i = 0; i < 3 && johnOpenai === 0; i++) {
      const r = await john();
      assert.equal(r.status, 200);
      if (r.json.model === 'gpt-4') johnOpenai++;
    }
    assert.equal(johnOpenai, 1, 'johndoe got one openai response within 3 requests');
    for (let i = 0; i < 4; i++) {
      const r = await john();
      assert.equal(r.status, 200);
      assert.equal(r.json.model, 'deepseek-chat');
      // present when the balancer proposed openai-instance first (checked, exhausted)
      assert.ok([null, '0'].includes(r.headers.get('x-ai-ratelimit-remaining-openai-instance')));
    }
    // janedoe is not affected by johndoe's usage: she still reaches openai-instance,
    // and once served by deepseek-instance she only gets openai-instance
    const janeModels: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await jane();
      assert.equal(r.status, 200);
      janeModels.push(r.json.model);
    }
    assert.ok(janeModels.includes('gpt-4'), janeModels.join(','));
    const firstDeepseek = janeModels.indexOf('deepseek-chat');
    if (firstDeepseek >= 0) assert.ok(janeModels.slice(firstDeepseek + 1).every((m) => m === 'gpt-4'), janeModels.join(','));
    const jr = await jane();
    assert.equal(jr.json.model, 'gpt-4');
    assert.ok([null, '0'].includes(jr.headers.get('x-ai-ratelimit-remaining-deepseek-instance')));
    assert.equal(jr.headers.get('x-ai-ratelimit-limit-openai-instance'), null, 'no openai quota for janedoe');
    // the mock saw the consumer headers
    const last = mock.requests[mock.requests.length - 1]!;
    assert.equal(last.headers['x-consumer-username'], 'janedoe');
  });

  test('R-RL-7 R-RSP-12 stream usage is counted', async () => {
    mock.reset();
    await put(gw, '/apisix/admin/routes/rl-stream', {
      uri: '/stream',
      plugins: {
        'ai-proxy-multi': { instances: [openaiInstance(mock)] },
        'ai-rate-limiting': { limit: 100, time_window: 60 },
      },
    });
    const r1 = await post(gw, '/stream', { ...CHAT, stream: true });
    assert.equal(r1.status, 200);
    assert.match(r1.text, /\[DONE\]/);
    assert.equal(r1.headers.get('x-ai-ratelimit-remaining-openai-instance'), '100');
    const r2 = await post(gw, '/stream', { ...CHAT, stream: true });
    assert.equal(r2.headers.get('x-ai-ratelimit-remaining-openai-instance'), '69');
  });

  test('R-RL-8 R-USG-2 a stream without usage is charged the tokenizer estimate (R-USG-2 replaces R-RL-8 for streams)', async () => {
    mock.reset();
    mock.reply((r) => ({ sse: sseChat(r.body?.model ?? 'x', ['a', 'b'], null) }));
    await put(gw, '/apisix/admin/routes/rl-nousage', {
      uri: '/nousage',
      plugins: {
        'ai-proxy-multi': { instances: [openaiInstance(mock)] },
        'ai-rate-limiting': { limit: 100, time_window: 60 },
      },
    });
    const r1 = await post(gw, '/nousage', { ...CHAT, stream: true });
    assert.equal(r1.headers.get('x-ai-ratelimit-remaining-openai-instance'), '100');
    // the estimate is charged in the log phase, before the access-log line is written
    const logged = () => { try { return readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8').split('\n').filter((l) => l.includes('/nousage')).length; } catch { return 0; } };
    await until(() => logged() === 1, 3000, 'the access-log line');
    const enc = getEncoding('o200k_base');
    const estimate = enc.encode(promptText({ ...CHAT, stream: true })).length + enc.encode('ab').length;
    const r2 = await post(gw, '/nousage', { ...CHAT, stream: true });
    assert.equal(r2.headers.get('x-ai-ratelimit-remaining-openai-instance'), String(100 - estimate));
  });

  test('R-RL-7 R-RSP-16 a client-aborted stream still charges the usage already reported', async () => {
    mock.reset();
    const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4' };
    mock.reply({
      sse: [
        { data: { ...base, choices: [{ index: 0, delta: { content: 'partial' } }] } },
        { data: { ...base, choices: [], usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 } } },
        { data: { ...base, choices: [{ index: 0, delta: { content: 'late' } }] }, delayMs: 3000 },
        { data: '[DONE]' },
      ],
    });
    await put(gw, '/apisix/admin/routes/rl-abort', {
      uri: '/abort',
      plugins: {
        'ai-proxy-multi': { instances: [openaiInstance(mock)] },
        'ai-rate-limiting': { limit: 100, time_window: 60 },
      },
    });
    const ac = new AbortController();
    const res = await fetch(gw.proxyUrl + '/abort', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true, stream_options: { include_usage: true } }), signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let got = '';
    const deadline = Date.now() + 5000;
    while (!got.includes('total_tokens') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      got += Buffer.from(value).toString('utf8');
    }
    assert.match(got, /total_tokens/);
    ac.abort();
    await reader.cancel().catch(() => {});
    // the log phase runs after the upstream request was aborted (within 1 s,
    // R-RSP-16); the probing requests carry no usage, so they charge nothing
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'x', 'ok', null) }));
    let remaining: string | null = null;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const r = await post(gw, '/abort');
      remaining = r.headers.get('x-ai-ratelimit-remaining-openai-instance');
      if (remaining === '75') break;
      await sleep(100);
    }
    assert.equal(remaining, '75');
  });

  test('R-RL-12 R-RL-20 rules by consumer-independent key with header prefix and rejected_msg', async () => {
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'x', 'ok', usage(15)) }));
    await put(gw, '/apisix/admin/routes/rl-rules', {
      uri: '/rules',
      plugins: {
        'ai-proxy-multi': { instances: [openaiInstance(mock)] },
        'ai-rate-limiting': {
          rules: [{ count: 20, time_window: 60, key: '${http_x_user}', header_prefix: 'User' }],
          rejected_code: 429,
          rejected_msg: 'quota exceeded',
        },
      },
    });
    const a1 = await post(gw, '/rules', CHAT, { 'x-user': 'alice' });
    assert.equal(a1.headers.get('x-ai-user-ratelimit-limit'), '20');
    assert.equal(a1.headers.get('x-ai-user-ratelimit-remaining'), '20');
    const a2 = await post(gw, '/rules', CHAT, { 'x-user': 'alice' });
    assert.equal(a2.headers.get('x-ai-user-ratelimit-remaining'), '5');
    const a3 = await post(gw, '/rules', CHAT, { 'x-user': 'alice' });
    assert.equal(a3.status, 429);
    assert.deepEqual(a3.json, { error_msg: 'quota exceeded', error: { message: 'quota exceeded', type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
    assert.equal(a3.headers.get('x-ai-user-ratelimit-remaining'), '0');
    const b1 = await post(gw, '/rules', CHAT, { 'x-user': 'bob' });
    assert.equal(b1.status, 200);
    assert.equal(b1.headers.get('x-ai-user-ratelimit-remaining'), '20');
    const none = await post(gw, '/rules');
    assert.equal(none.status, 500, 'no rule resolves → 500 default page');
  });

  test('R-RL-9 expression strategy over the provider\'s raw usage (anthropic messages, cache tokens)', async () => {
    mock.reset();
    mock.reply((r) => ({
      json: {
        id: 'msg_1', type: 'message', role: 'assistant', model: r.body?.model ?? 'claude',
        content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 50, cache_read_input_tokens: 200, cache_creation_input_tokens: 100, output_tokens: 30 },
      },
    }));
    await put(gw, '/apisix/admin/routes/rl-expr', {
      uri: '/expr/v1/messages',
      plugins: {
        'ai-proxy-multi': {
          instances: [{
            name: 'claude', provider: 'anthropic', weight: 1,
            auth: { header: { 'x-api-key': 'sk-ant' } },
            options: { model: 'claude-sonnet-4' },
            override: { endpoint: mock.url },
          }],
        },
        'ai-rate-limiting': {
          limit: 1000, time_window: 60, limit_strategy: 'expression',
          cost_expr: 'input_tokens + cache_read_input_tokens * 0.1 + cache_creation_input_tokens * 1.25 + output_tokens',
        },
      },
    });
    const body = { max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
    const r1 = await post(gw, '/expr/v1/messages', body);
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.headers.get('x-ai-ratelimit-remaining-claude'), '1000');
    const r2 = await post(gw, '/expr/v1/messages', body);
    assert.equal(r2.headers.get('x-ai-ratelimit-remaining-claude'), '775');
  });

  test('R-RL-20 R-RL-5 rules keyed by $consumer_name: one counter per consumer, shared across routes', async () => {
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'x', 'ok', usage(15)) }));
    for (const u of ['alice', 'bob']) {
      await put(gw, '/apisix/admin/consumers', { username: u });
      await put(gw, `/apisix/admin/consumers/${u}/credentials/${u}-cred`, { plugins: { 'key-auth': { key: `${u}-key` } } });
    }
    await put(gw, '/apisix/admin/services/rules-svc', {
      plugins: {
        'key-auth': {},
        'ai-proxy-multi': { instances: [openaiInstance(mock)] },
        'ai-rate-limiting': { rules: [{ key: '$consumer_name', count: 20, time_window: 60, header_prefix: 'User' }], rejected_code: 429 },
      },
    });
    await put(gw, '/apisix/admin/routes/rules-a', { uri: '/rules-a', service_id: 'rules-svc' });
    await put(gw, '/apisix/admin/routes/rules-b', { uri: '/rules-b', service_id: 'rules-svc' });
    const a1 = await post(gw, '/rules-a', CHAT, { apikey: 'alice-key' });
    assert.equal(a1.status, 200, a1.text);
    assert.equal(a1.headers.get('x-ai-user-ratelimit-remaining'), '20');
    const a2 = await post(gw, '/rules-b', CHAT, { apikey: 'alice-key' });
    assert.equal(a2.headers.get('x-ai-user-ratelimit-remaining'), '5', 'a Service-level counter is shared by its routes');
    const a3 = await post(gw, '/rules-a', CHAT, { apikey: 'alice-key' });
    assert.equal(a3.status, 429);
    const b1 = await post(gw, '/rules-b', CHAT, { apikey: 'bob-key' });
    assert.equal(b1.status, 200);
    assert.equal(b1.headers.get('x-ai-user-ratelimit-remaining'), '20');
  });

  test('R-RL-5 unchanged re-write keeps counters, a changed ai-rate-limiting configuration starts fresh ones', async () => {
    mock.reset();
    mock.reply((r) => ({ json: chatCompletion(r.body?.model ?? 'x', 'ok', usage(10)) }));
    const route = (rl: Record<string, unknown>, desc = 'a') => ({
      uri: '/identity',
      desc,
      plugins: { 'ai-proxy-multi': { instances: [openaiInstance(mock)] }, 'ai-rate-limiting': rl },
    });
    await put(gw, '/apisix/admin/routes/rl-identity', route({ limit: 50, time_window: 60 }));
    await post(gw, '/identity');
    await put(gw, '/apisix/admin/routes/rl-identity', route({ limit: 50, time_window: 60 }, 'changed description'));
    assert.equal((await post(gw, '/identity')).headers.get('x-ai-ratelimit-remaining-openai-instance'), '40');
    await put(gw, '/apisix/admin/routes/rl-identity', route({ limit: 50, time_window: 60, rejected_code: 429 }));
    assert.equal((await post(gw, '/identity')).headers.get('x-ai-ratelimit-remaining-openai-instance'), '50');
  });

  test('R-RL-1 Admin API rejects invalid configurations with the spec texts', async () => {
    const bad = async (rl: unknown) => {
      const r = await gw.admin('PUT', '/apisix/admin/routes/rl-bad', { uri: '/bad', plugins: { 'ai-rate-limiting': rl } });
      assert.equal(r.status, 400, r.text);
      return r.body.error_msg as string;
    };
    const prefix = 'failed to check the configuration of plugin ai-rate-limiting err: ';
    assert.equal(await bad({ time_window: 60 }), prefix + 'property "limit" is required when "time_window" is set');
    assert.equal(await bad({ limit: 30, time_window: 60, rejected_code: 199 }), prefix + 'property "rejected_code" validation failed: expected 199 to be at least 200');
    assert.equal(await bad({ limit: 30, time_window: 60, limit_strategy: 'expression' }), prefix + "cost_expr is required when limit_strategy is 'expression'");
    assert.match(await bad({ limit: 30, time_window: 60, limit_strategy: 'expression', cost_expr: 'a +' }), /^failed to check the configuration of plugin ai-rate-limiting err: invalid cost_expr: /);
    assert.equal(await bad({}), prefix + 'value should match only one schema, but matches none');
  });
});
