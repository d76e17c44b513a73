// R-PHC-1 through the real CLI: passive-only checks on real traffic mark an
// instance unhealthy (listed by /v1/healthcheck, no longer picked); after the
// 10 s cool-down it gets `healthy.successes` trial requests, one at a time,
// and is then used again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion } from '../helpers/mock-llm.js';

async function until<T>(f: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

test('R-PHC-1 passive only: 5xx answers -> unhealthy, skipped; trials one at a time after 10 s; healthy again', { timeout: 60_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  let down = true;
  const aStarts: number[] = [];
  a.reply(() => {
    if (down) return { status: 500, json: { error: 'boom' } };
    aStarts.push(Date.now());
    return { delayMs: 300, json: chatCompletion('m') };
  });
  b.reply({ json: chatCompletion('m') });
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await a.close(); await b.close(); });
  const inst = (name: string, url: string, checks?: unknown) => ({
    name, provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: url }, ...(checks ? { checks } : {}),
  });
  const r = await gw.admin('PUT', '/apisix/admin/routes/pas', {
    uri: '/pas', methods: ['POST'],
    plugins: { 'ai-proxy-multi': { fallback_strategy: ['http_5xx'], instances: [inst('a', a.url, { passive: { healthy: { successes: 2 }, unhealthy: { http_failures: 2 } } }), inst('b', b.url)] } },
  });
  assert.ok(r.status < 300, r.text);
  // bad input: 400 naming the field, the stored route unchanged
  for (const [checks, what] of [
    [{ passive: { unhealthy: { http_failures: 300 } } }, /http_failures/],
    [{}, /matches none of the required: \["active"\] or \["passive"\]/],
  ] as const) {
    const bad = await gw.admin('PUT', '/apisix/admin/routes/pas', {
      uri: '/pas', methods: ['POST'],
      plugins: { 'ai-proxy-multi': { instances: [inst('a', a.url, checks), inst('b', b.url)] } },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.body.error_msg, what);
  }
  const stored = await gw.admin('GET', '/apisix/admin/routes/pas');
  assert.equal(stored.body.value.plugins['ai-proxy-multi'].instances[0].checks.passive.unhealthy.http_failures, 2);
  const post = async () => {
    const res = await fetch(gw.proxyUrl + '/pas', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT) });
    await res.text();
    return res.status;
  };
  const nodeA = async () => {
    const list = await (await fetch(gw.controlUrl + '/v1/healthcheck')).json();
    return Array.isArray(list) ? list.find((e: any) => e.instance === 'a') : undefined;
  };

  // listed from the start (a passive checker), healthy
  assert.equal((await nodeA())?.nodes[0].status, 'healthy');
  for (let i = 0; i < 4; i++) assert.equal(await post(), 200, 'b answers when a fails');
  assert.equal(a.requests.length, 2, 'round robin sent 2 of 4 to a');
  const e = await until(async () => { const n = await nodeA(); return n?.nodes[0].status === 'unhealthy' ? n : undefined; }, 5000, 'a unhealthy');
  const tUnhealthy = Date.now();
  assert.equal(e.type, 'http');
  assert.equal(e.nodes[0].counter.http_failure, 2);
  for (let i = 0; i < 6; i++) assert.equal(await post(), 200);
  assert.equal(a.requests.length, 2, 'an unhealthy instance is not picked');

  down = false;
  // bursts of concurrent requests until both trials went through and a is healthy
  await until(async () => {
    await Promise.all([post(), post(), post(), post()]);
    return (await nodeA())?.nodes[0].status === 'healthy' ? true : undefined;
  }, 25_000, 'a healthy again');
  assert.ok(aStarts.length >= 2, `trials: ${aStarts.length}`);
  assert.ok(aStarts[0]! - tUnhealthy >= 9000, `first trial ${aStarts[0]! - tUnhealthy} ms after unhealthy`);
  assert.ok(aStarts[1]! - aStarts[0]! >= 290, `the second trial started ${aStarts[1]! - aStarts[0]!} ms after the first: one at a time`);
  const before = aStarts.length;
  await Promise.all([post(), post(), post(), post()]);
  assert.ok(aStarts.length - before >= 1, 'healthy: picked again');
});
