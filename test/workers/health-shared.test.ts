// R-PHC-3 with `nginx_config.worker_processes: 2`: passive failures and
// Retry-After cool-downs seen by one worker count for all, and a passive-only
// instance's trial requests stay one at a time across workers. Every request
// is on a fresh connection, so the cluster hands consecutive requests to
// different workers; the access log's `$pid` tells which.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

function fresh(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(CHAT);
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

function start2(): Promise<GatewayProcess> {
  return startGateway({
    config: { nginx_config: { worker_processes: 2, http: { enable_access_log: true, access_log: 'logs/access.log', access_log_format: '$pid $uri $status "$llm_attempts"' } } },
    timeoutMs: 30_000,
  });
}

/** [pid, trail without ms] of the access-log lines of `uri` */
function lines(gw: GatewayProcess, uri: string): Array<[number, string[]]> {
  const f = path.join(gw.dir, 'logs/access.log');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').split('\n').map((l) => /^(\d+) (\S+) \d{3} "([^"]*)"$/.exec(l)).filter((m): m is RegExpExecArray => !!m && m[2] === uri)
    .map((m) => [Number(m[1]), m[3]!.split(',').map((a) => a.replace(/:\d+$/, ''))]);
}

const inst = (name: string, m: MockLlm, extra: Record<string, unknown> = {}) => ({
  name, provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: m.url }, ...extra,
});

async function put(gw: GatewayProcess, id: string, conf: Record<string, unknown>): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, { uri: `/${id}`, methods: ['POST'], plugins: { 'ai-proxy-multi': conf } });
  assert.ok(r.status === 200 || r.status === 201, r.text);
}

async function nodeOf(gw: GatewayProcess, instance: string): Promise<any> {
  const list = await (await fetch(gw.controlUrl + '/v1/healthcheck')).json();
  return Array.isArray(list) ? list.find((e: any) => e.instance === instance)?.nodes[0] : undefined;
}

async function poll<T>(f: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('R-PHC-3 a Retry-After cool-down seen by one worker is kept by every worker', { timeout: 40_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  let n = 0;
  a.reply(() => (n++ === 0 ? { status: 429, headers: { 'retry-after': '30' }, json: { error: 'slow down' } } : { json: chatCompletion('m') }));
  b.reply({ json: chatCompletion('m') });
  const gw = await start2();
  t.after(async () => { await gw.stop(); await a.close(); await b.close(); });
  await put(gw, 'cool', { fallback_strategy: ['http_429'], instances: [inst('a', a, { priority: 1 }), inst('b', b)] });
  assert.equal(await fresh(gw.proxyUrl + '/cool'), 200);
  for (let i = 0; i < 10; i++) assert.equal(await fresh(gw.proxyUrl + '/cool'), 200);
  assert.equal(a.requests.length, 1, 'no worker sent anything to the cooling instance');
  await until(() => lines(gw, '/cool').length >= 11, 5000, 'access log lines');
  const all = lines(gw, '/cool');
  assert.deepEqual(all[0]![1], ['a:429', 'b:ok']);
  const skippers = new Set(all.slice(1).filter(([, tr]) => tr[0] === 'a:cooling_down').map(([pid]) => pid));
  assert.equal(skippers.size, 2, `both workers skipped a: ${JSON.stringify(all)}`);
  const node = await nodeOf(gw, 'a');
  assert.equal(node?.status, 'cooling_down');
  assert.ok(node.cooldown_left_s > 20 && node.cooldown_left_s <= 30, JSON.stringify(node));
});

test('R-PHC-3 passive failures seen by both workers add up to one threshold; then no worker picks the instance', { timeout: 40_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  a.reply({ status: 500, json: { error: 'boom' } });
  b.reply({ json: chatCompletion('m') });
  const gw = await start2();
  t.after(async () => { await gw.stop(); await a.close(); await b.close(); });
  await put(gw, 'pf', {
    fallback_strategy: ['http_5xx'],
    instances: [inst('a', a, { checks: { passive: { unhealthy: { http_failures: 4 } } } }), inst('b', b)],
  });
  await poll(async () => {
    assert.equal(await fresh(gw.proxyUrl + '/pf'), 200);
    return (await nodeOf(gw, 'a'))?.status === 'unhealthy' ? true : undefined;
  }, 20_000, 'a unhealthy');
  const failed = a.requests.length;
  // counted per worker, 4 failures in each would be needed (at least 7 requests)
  assert.ok(failed >= 4 && failed <= 5, `${failed} failures to reach a threshold of 4`);
  await until(() => lines(gw, '/pf').filter(([, tr]) => tr[0] === 'a:500').length >= failed, 5000, 'access log lines');
  const pids = new Set(lines(gw, '/pf').filter(([, tr]) => tr[0] === 'a:500').map(([pid]) => pid));
  assert.equal(pids.size, 2, 'both workers saw failures');
  for (let i = 0; i < 10; i++) assert.equal(await fresh(gw.proxyUrl + '/pf'), 200);
  assert.equal(a.requests.length, failed, 'no worker picks the unhealthy instance');
});

test('R-PHC-3 R-PHC-1 trial requests stay one at a time across workers', { timeout: 60_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  let down = true;
  const starts: number[] = [];
  a.reply(() => {
    if (down) return { status: 500, json: { error: 'boom' } };
    starts.push(Date.now());
    return { delayMs: 300, json: chatCompletion('m') };
  });
  b.reply({ json: chatCompletion('m') });
  const gw = await start2();
  t.after(async () => { await gw.stop(); await a.close(); await b.close(); });
  await put(gw, 'tr', {
    fallback_strategy: ['http_5xx'],
    instances: [inst('a', a, { checks: { passive: { healthy: { successes: 3 }, unhealthy: { http_failures: 1 } } } }), inst('b', b)],
  });
  await poll(async () => {
    await fresh(gw.proxyUrl + '/tr');
    return (await nodeOf(gw, 'a'))?.status === 'unhealthy' ? true : undefined;
  }, 20_000, 'a unhealthy');
  down = false;
  await poll(async () => {
    await Promise.all(Array.from({ length: 6 }, () => fresh(gw.proxyUrl + '/tr')));
    return (await nodeOf(gw, 'a'))?.status === 'healthy' ? true : undefined;
  }, 30_000, 'a healthy again');
  assert.ok(starts.length >= 3, `${starts.length} trials`);
  for (let i = 1; i < 3; i++) assert.ok(starts[i]! - starts[i - 1]! >= 290, `trials ${i - 1} and ${i} overlap (${starts[i]! - starts[i - 1]!} ms apart)`);
});
