// R-USG-4 end to end: `instances.pricing` gives `$llm_cost` and the
// Prometheus cost counter, and the daily budget of docs/rate-limiting.md (an
// `expression` quota in micro-dollars per consumer) stops a consumer once it
// spent it, while another consumer still has its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';
import { find, parseProm } from '../observability/prom-text.js';

const PRICES = { input: 2.5, output: 10, cache_read: 1.25, currency: 'USD' };
const USAGE = { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 };
// what one answer costs, in USD and in the budget's micro-dollars
const COST_USD = (USAGE.prompt_tokens * PRICES.input + USAGE.completion_tokens * PRICES.output) / 1e6;
const COST_MICRO = USAGE.prompt_tokens * 2.5 + USAGE.completion_tokens * 10;
const BUDGET = 500; // µUSD: 137.5 per answer, so the 4th answer crosses it

test('R-USG-4 $llm_cost, llm_cost_total and a per-consumer budget in currency', async (t) => {
  const mock = await startMockLlm();
  mock.reply({ json: chatCompletion('gpt-4o', 'ok', USAGE) });
  const gw = await startGateway({ config: { nginx_config: { http: { access_log_format: '$uri $consumer_name $status $llm_cost' } } } });
  t.after(async () => {
    await gw.stop();
    await mock.close();
  });
  const put = async (p: string, body: unknown) => {
    const r = await gw.admin('PUT', p, body);
    assert.ok(r.status === 200 || r.status === 201, `PUT ${p}: ${r.status} ${r.text}`);
  };
  for (const u of ['alice', 'bob']) {
    await put(`/apisix/admin/consumers/${u}`, { username: u });
    await put(`/apisix/admin/consumers/${u}/credentials/${u}-key`, { plugins: { 'key-auth': { key: `${u}-key` } } });
  }
  await put('/apisix/admin/routes/budget', {
    uri: '/budget',
    plugins: {
      'key-auth': {},
      prometheus: {},
      'ai-proxy-multi': {
        instances: [{
          name: 'openai', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer sk' } },
          options: { model: 'gpt-4o' }, override: { endpoint: mock.url + '/v1/chat/completions' }, pricing: PRICES,
        }],
      },
      'ai-rate-limiting': {
        limit_strategy: 'expression',
        cost_expr: 'prompt_tokens * 2.5 + completion_tokens * 10',
        rules: [{ key: '$consumer_name', count: BUDGET, time_window: 86400, header_prefix: 'budget' }],
        rejected_code: 429,
        rejected_msg: 'daily budget exhausted',
      },
    },
  });
  const send = async (who: string) => {
    const r = await fetch(gw.proxyUrl + '/budget', {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: `${who}-key` },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, text: await r.text() };
  };

  const alice: number[] = [];
  for (let i = 0; i < 6; i++) alice.push((await send('alice')).status);
  assert.deepEqual(alice, [200, 200, 200, 200, 429, 429], 'sequential: admitted while used < budget, as APISIX');
  const rejected = await send('alice');
  assert.match(rejected.text, /daily budget exhausted/);
  assert.equal((await send('bob')).status, 200, "bob's budget is his own");

  const lines = () => {
    let text = '';
    try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
    return text.split('\n').filter((l) => l.startsWith('/budget ')).map((l) => l.split(' '));
  };
  await until(() => lines().length === 8, 5000, '8 access-log lines');
  for (const [uri, who, status, cost] of lines()) {
    assert.equal(uri, '/budget');
    if (status === '200') assert.ok(Math.abs(Number(cost) - COST_USD) < 1e-12, `${who}: $llm_cost ${cost} = ${COST_USD}`);
    else assert.equal(status, '429');
  }

  const metric = async () => {
    const res = await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`);
    return find(parseProm(await res.text()), 'apisix_llm_cost_total', { route_id: 'budget', instance: 'openai', currency: 'USD' });
  };
  await until(async () => (await metric()).length === 2, 5000, 'a cost series per consumer').catch(async (e) => {
    const res = await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`);
    throw new Error(`${e.message}: ${(await res.text()).split('\n').filter((l) => l.includes('cost')).join(' | ')}`);
  });
  const byConsumer = Object.fromEntries((await metric()).map((s) => [s.labels.consumer, s.value]));
  assert.ok(Math.abs(byConsumer.alice! - 4 * COST_USD) < 1e-12, `alice spent 4 answers: ${byConsumer.alice}`);
  assert.ok(Math.abs(byConsumer.bob! - COST_USD) < 1e-12, `bob spent 1 answer: ${byConsumer.bob}`);
  assert.ok(4 * COST_MICRO >= BUDGET && 3 * COST_MICRO < BUDGET, 'the budget is crossed by the 4th answer');
});
