// §12.1 through the real CLI: fallback on chosen statuses (R-RTY-1), retry
// bounds (R-RTY-2, R-RTY-3) and the attempt trail in the access log, the
// http-logger's llm_summary and Prometheus (R-RTY-4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { startCollector, type Collector } from '../loggers/collector.js';
import { until } from '../helpers/wait.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };
let gw: GatewayProcess;
let ok: MockLlm;
let m401: MockLlm;
let m402: MockLlm;
let m500: MockLlm;
let slow500: MockLlm;
let collector: Collector;

before(async () => {
  [ok, m401, m402, m500, slow500] = await Promise.all([startMockLlm(), startMockLlm(), startMockLlm(), startMockLlm(), startMockLlm()]);
  ok.reply({ json: chatCompletion('gpt-4') });
  m401.reply({ status: 401, json: { error: { message: 'invalid key' } } });
  m402.reply({ status: 402, json: { error: { message: 'no credit' } } });
  m500.reply({ status: 500, json: { error: 'boom' } });
  slow500.reply({ status: 500, delayMs: 300, json: { error: 'slow boom' } });
  collector = await startCollector();
  gw = await startGateway({
    config: { nginx_config: { http: { access_log_format: '$request_uri $status "$llm_attempts"' } } },
  });
});
after(async () => {
  await gw?.kill();
  await collector?.close();
  await Promise.all([ok, m401, m402, m500, slow500].map((m) => m?.close()));
});

const inst = (name: string, m: MockLlm, priority: number) => ({
  name, provider: 'openai', priority, weight: 1, auth: { header: { Authorization: `Bearer ${name}` } }, override: { endpoint: m.url },
});

async function route(id: string, conf: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, { uri: `/${id}`, methods: ['POST'], plugins: { 'ai-proxy-multi': conf, ...extra } });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}
async function post(p: string): Promise<{ status: number; text: string }> {
  const r = await fetch(gw.proxyUrl + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT) });
  return { status: r.status, text: await r.text() };
}
/** the `$llm_attempts` of the access-log line of `uri` (the n-th, 0-based) */
async function attemptsOf(uri: string, n = 0): Promise<string> {
  let line: string | undefined;
  await until(() => {
    let all: string[] = [];
    try { all = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8').split('\n'); } catch { /* not yet */ }
    line = all.filter((l) => l.startsWith(uri + ' '))[n];
    return line !== undefined;
  }, 5000, `access log line for ${uri}`);
  return /"([^"]*)"$/.exec(line!)![1]!;
}
const trail = (s: string) => s.split(',').map((a) => a.replace(/:\d+$/, ''));

test('R-RTY-1 R-RTY-4: 401/402 fall back with fallback_http_statuses (no fallback_strategy); the trail in $llm_attempts, llm_summary and Prometheus', async () => {
  await route('rty1', {
    fallback_http_statuses: [401, 402],
    logging: { summaries: true },
    instances: [inst('revoked', m401, 30), inst('broke', m402, 20), inst('good', ok, 10)],
  }, { 'http-logger': { uri: `${collector.url}/rty1`, batch_max_size: 1 }, prometheus: {} });
  const r = await post('/rty1');
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).model, 'gpt-4');
  const a = await attemptsOf('/rty1');
  assert.deepEqual(trail(a), ['revoked:401', 'broke:402', 'good:ok']);
  assert.match(a, /^revoked:401:\d+,broke:402:\d+,good:ok:\d+$/);
  await collector.waitFor(1);
  const e = JSON.parse(collector.received.find((x) => x.url === '/rty1')!.body);
  assert.deepEqual(e.llm_summary.attempts.map((x: any) => `${x.instance}:${x.outcome}`), ['revoked:401', 'broke:402', 'good:ok']);
  assert.ok(e.llm_summary.attempts.every((x: any) => Number.isInteger(x.ms) && x.ms >= 0));
  const metrics = await (await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`)).text();
  for (const [i, o] of [['revoked', '401'], ['broke', '402'], ['good', 'ok']]) {
    assert.match(metrics, new RegExp(`apisix_llm_attempts_total\\{route_id="rty1",instance="${i}",outcome="${o}"\\} 1`), metrics.split('\n').filter((l) => l.includes('attempts')).join('\n'));
  }
  // without the list the 401 is relayed as it is (R-FB-5)
  await route('rty1-off', { instances: [inst('revoked', m401, 30), inst('good', ok, 10)] });
  const off = await post('/rty1-off');
  assert.equal(off.status, 401);
  assert.match(off.text, /invalid key/);
  assert.deepEqual(trail(await attemptsOf('/rty1-off')), ['revoked:401']);
});

test('R-RTY-2: max_retries 0 answers the first failure as relayed; 1 tries one more; unset tries all', async () => {
  const instances = [inst('a', m500, 30), inst('b', m402, 20), inst('c', ok, 10)];
  await route('rty2-0', { fallback_strategy: ['http_5xx'], fallback_http_statuses: [402], max_retries: 0, instances });
  const r0 = await post('/rty2-0');
  assert.equal(r0.status, 500, 'the upstream status stays relayed');
  assert.match(r0.text, /boom/);
  assert.deepEqual(trail(await attemptsOf('/rty2-0')), ['a:500']);

  await route('rty2-1', { fallback_strategy: ['http_5xx'], fallback_http_statuses: [402], max_retries: 1, instances });
  const r1 = await post('/rty2-1');
  assert.equal(r1.status, 402);
  assert.match(r1.text, /no credit/);
  assert.deepEqual(trail(await attemptsOf('/rty2-1')), ['a:500', 'b:402']);

  await route('rty2-all', { fallback_strategy: ['http_5xx'], fallback_http_statuses: [402], instances });
  const ra = await post('/rty2-all');
  assert.equal(ra.status, 200);
  assert.deepEqual(trail(await attemptsOf('/rty2-all')), ['a:500', 'b:402', 'c:ok']);
});

test('R-RTY-3: retry_on_failure_within_ms: a fast 500 falls back, a slow 500 is answered as it is', async () => {
  await route('rty3-fast', { fallback_strategy: ['http_5xx'], retry_on_failure_within_ms: 200, instances: [inst('fast', m500, 20), inst('good', ok, 10)] });
  const f = await post('/rty3-fast');
  assert.equal(f.status, 200);
  assert.deepEqual(trail(await attemptsOf('/rty3-fast')), ['fast:500', 'good:ok']);

  await route('rty3-slow', { fallback_strategy: ['http_5xx'], retry_on_failure_within_ms: 100, instances: [inst('slow', slow500, 20), inst('good', ok, 10)] });
  const s = await post('/rty3-slow');
  assert.equal(s.status, 500);
  assert.match(s.text, /slow boom/);
  const a = await attemptsOf('/rty3-slow');
  assert.deepEqual(trail(a), ['slow:500']);
  assert.ok(Number(a.split(':')[2]) >= 250, a);
  assert.equal(ok.requests.filter((q) => q.headers.authorization === 'Bearer good').length, 2, 'only the fast case reached the next instance');
});

test('R-RTY-1..3: schema errors name the attribute', async () => {
  for (const [conf, want] of [
    [{ fallback_http_statuses: [200] }, /fallback_http_statuses/],
    [{ fallback_http_statuses: [] }, /fallback_http_statuses/],
    [{ max_retries: -1 }, /max_retries/],
    [{ retry_on_failure_within_ms: 0 }, /retry_on_failure_within_ms/],
  ] as const) {
    const r = await gw.admin('PUT', '/apisix/admin/routes/bad', { uri: '/bad', plugins: { 'ai-proxy-multi': { ...conf, instances: [inst('x', ok, 0)] } } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, want);
  }
});
