// R-PHC-2 through the real CLI: an answer 429/503 with Retry-After (seconds or
// HTTP date, capped at 300 s) puts the instance into a cool-down: skipped with
// outcome `cooling_down` in the attempt trail (R-RTY-4), listed by
// /v1/healthcheck with `cooling_down` and `cooldown_left_s`, used again after
// it, and shown by the dashboard's stats. Without Retry-After there is no
// cool-down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm, type MockResponse } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';
import { retryAfterMs } from '../../src/llm/health/conf.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };
let gw: GatewayProcess;
const mocks: MockLlm[] = [];

before(async () => {
  gw = await startGateway({ config: { nginx_config: { http: { access_log_format: '$request_uri $status "$llm_attempts"' } } } });
});
after(async () => {
  await gw?.kill();
  await Promise.all(mocks.map((m) => m.close()));
});

async function mock(answers: MockResponse[], then: MockResponse = { json: chatCompletion('m') }): Promise<MockLlm> {
  const m = await startMockLlm();
  mocks.push(m);
  let n = 0;
  m.reply(() => answers[n++] ?? then);
  return m;
}

const inst = (name: string, m: MockLlm, priority: number) => ({
  name, provider: 'openai', priority, weight: 1, auth: { header: { Authorization: `Bearer ${name}` } }, override: { endpoint: m.url },
});

async function route(id: string, a: MockLlm, b: MockLlm, strategy: string[]): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, {
    uri: `/${id}`, methods: ['POST'],
    plugins: { 'ai-proxy-multi': { ...(strategy.length ? { fallback_strategy: strategy } : {}), instances: [inst('a', a, 1), inst('b', b, 0)] } },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}
async function post(p: string): Promise<number> {
  const r = await fetch(gw.proxyUrl + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT) });
  await r.text();
  return r.status;
}
/** the `$llm_attempts` of the n-th access-log line of `uri`, without the milliseconds */
async function trailOf(uri: string, n: number): Promise<string[]> {
  let line: string | undefined;
  await until(() => {
    let all: string[] = [];
    try { all = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8').split('\n'); } catch { /* not yet */ }
    line = all.filter((l) => l.startsWith(uri + ' '))[n];
    return line !== undefined;
  }, 5000, `access log line ${n} for ${uri}`);
  return /"([^"]*)"$/.exec(line!)![1]!.split(',').map((a) => a.replace(/:\d+$/, ''));
}
async function nodeOf(routeId: string, instance: string): Promise<any> {
  const r = await fetch(gw.controlUrl + '/v1/healthcheck');
  const list = await r.json();
  const e = Array.isArray(list) ? list.find((x: any) => x.instance === instance && x.name.startsWith(`/apisix/routes/${routeId}#`)) : undefined;
  return e?.nodes[0];
}

test('R-PHC-2 Retry-After parsing: seconds, HTTP date, cap 300 s, garbage and past dates ignored', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  assert.equal(retryAfterMs('2', now), 2000);
  assert.equal(retryAfterMs(' 7 ', now), 7000);
  assert.equal(retryAfterMs(new Date(now + 30_000).toUTCString(), now), 30_000);
  assert.equal(retryAfterMs('100000', now), 300_000);
  assert.equal(retryAfterMs(new Date(now + 3600_000).toUTCString(), now), 300_000);
  assert.equal(retryAfterMs('0', now), undefined);
  assert.equal(retryAfterMs(new Date(now - 5000).toUTCString(), now), undefined);
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs('-3', now), undefined);
  assert.equal(retryAfterMs(undefined, now), undefined);
});

test('R-PHC-2 R-RTY-4 429 + Retry-After (seconds): skipped as cooling_down, listed by /v1/healthcheck, used again after it', { timeout: 30_000 }, async () => {
  const a = await mock([{ status: 429, headers: { 'retry-after': '2' }, json: { error: 'slow down' } }]);
  const b = await mock([]);
  await route('cd1', a, b, ['http_429']);
  assert.equal(await post('/cd1'), 200);
  const t0 = Date.now();
  assert.deepEqual(await trailOf('/cd1', 0), ['a:429', 'b:ok']);
  assert.equal(await post('/cd1'), 200);
  assert.deepEqual(await trailOf('/cd1', 1), ['a:cooling_down', 'b:ok']);
  assert.equal(a.requests.length, 1, 'nothing sent to the cooling instance');

  const node = await nodeOf('cd1', 'a');
  assert.equal(node?.status, 'cooling_down', JSON.stringify(node));
  assert.ok(node.cooldown_left_s >= 1 && node.cooldown_left_s <= 2, JSON.stringify(node));
  assert.equal(await nodeOf('cd1', 'b'), undefined, 'an instance without checks and cool-down is not listed');

  // used again once the cool-down is over (and no longer listed)
  await until(async () => (await nodeOf('cd1', 'a')) === undefined, 10_000, 'cool-down over');
  assert.ok(Date.now() - t0 >= 1500, `cool-down lasted ${Date.now() - t0} ms`);
  assert.equal(await post('/cd1'), 200);
  assert.equal(a.requests.length, 2);
  assert.deepEqual(await trailOf('/cd1', 2), ['a:ok']);
});

test('R-PHC-2 503 + Retry-After (HTTP date) cools down; the cap is 300 s', { timeout: 30_000 }, async () => {
  const a = await mock([{ status: 503, headers: { 'retry-after': new Date(Date.now() + 3600_000).toUTCString() }, json: { error: 'maintenance' } }]);
  const b = await mock([]);
  await route('cd2', a, b, ['http_5xx']);
  assert.equal(await post('/cd2'), 200);
  assert.deepEqual(await trailOf('/cd2', 0), ['a:503', 'b:ok']);
  const node = await nodeOf('cd2', 'a');
  assert.equal(node?.status, 'cooling_down');
  assert.ok(node.cooldown_left_s > 290 && node.cooldown_left_s <= 300, JSON.stringify(node));
  for (let i = 0; i < 3; i++) assert.equal(await post('/cd2'), 200);
  assert.equal(a.requests.length, 1);
  assert.deepEqual(await trailOf('/cd2', 3), ['a:cooling_down', 'b:ok']);

  // the dashboard shows the same (R-UI-1 instance table)
  const st = await gw.admin('GET', '/apisix/admin/dashboard/stats');
  assert.equal(st.status, 200, st.text);
  const row = st.body.instances.find((i: any) => i.route_id === 'cd2' && i.name === 'a');
  assert.equal(row?.health, 'cooling_down', JSON.stringify(row));
  assert.ok(row.cooldown_left_s > 290 && row.cooldown_left_s <= 300, JSON.stringify(row));
  const other = st.body.instances.find((i: any) => i.route_id === 'cd2' && i.name === 'b');
  assert.deepEqual([other?.health, other?.cooldown_left_s], [null, null]);
});

test('R-PHC-2 without Retry-After (or on another status) there is no cool-down; a relayed 429 cools down too', { timeout: 30_000 }, async () => {
  const a = await mock([
    { status: 429, json: { error: 'no header' } },
    { status: 500, headers: { 'retry-after': '60' }, json: { error: 'not 429/503' } },
  ]);
  const b = await mock([]);
  await route('cd3', a, b, ['http_429', 'http_5xx']);
  assert.equal(await post('/cd3'), 200);
  assert.equal(await post('/cd3'), 200);
  assert.equal(await post('/cd3'), 200);
  assert.deepEqual(await trailOf('/cd3', 0), ['a:429', 'b:ok']);
  assert.deepEqual(await trailOf('/cd3', 1), ['a:500', 'b:ok']);
  assert.deepEqual(await trailOf('/cd3', 2), ['a:ok']);
  assert.equal(await nodeOf('cd3', 'a'), undefined);

  // no fallback strategy: the 429 is relayed to the client, and the instance still cools down
  const c = await mock([{ status: 429, headers: { 'retry-after': '30' }, json: { error: 'relayed' } }]);
  const d = await mock([]);
  await route('cd4', c, d, []);
  assert.equal(await post('/cd4'), 429);
  assert.equal(await post('/cd4'), 200);
  assert.deepEqual(await trailOf('/cd4', 1), ['a:cooling_down', 'b:ok']);
  assert.equal((await nodeOf('cd4', 'a'))?.status, 'cooling_down');
});
