// http-logger end to end through the real CLI against a real local collector
// (R-LOG-1, R-LOG-2, R-LOG-4, R-LOG-5, R-GEN-18).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { rawGet, startCollector, startUpstream, until } from './collector.js';

test('R-LOG-1 R-LOG-5: default entry POSTed as one JSON object (batch_max_size 1), credentials redacted', async (t) => {
  const collector = await startCollector();
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await collector.close(); await upstream.close(); });

  const put = await gw.admin('PUT', '/apisix/admin/routes/1', {
    uri: '/hello',
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
    plugins: {
      'key-auth': {},
      'http-logger': { uri: `${collector.url}/logs?src=gw`, batch_max_size: 1, auth_header: 'Bearer collector-token' },
    },
  });
  assert.equal(put.status, 201, put.text);
  const cons = await gw.admin('PUT', '/apisix/admin/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
  assert.ok(cons.status < 300, cons.text);

  const res = await fetch(`${gw.proxyUrl}/hello?apikey=jack-key&a=1&a=2`, { headers: { authorization: 'Basic c2VjcmV0OnB3', 'x-custom': 'v' } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello world\n');
  await collector.waitFor(1);
  const got = collector.received[0]!;
  assert.equal(got.method, 'POST');
  assert.equal(got.url, '/logs?src=gw');
  assert.equal(got.headers['content-type'], 'application/json');
  assert.equal(got.headers.authorization, 'Bearer collector-token');
  const e = JSON.parse(got.body);
  assert.ok(!Array.isArray(e), 'a single object when batch_max_size is 1');
  assert.equal(e.route_id, '1');
  assert.equal(e.service_id, '');
  assert.deepEqual(e.consumer, { username: 'jack' });
  assert.equal(e.request.method, 'GET');
  assert.equal(e.request.uri, '/hello?a=1&a=2');
  assert.match(e.request.url, /^http:\/\/127\.0\.0\.1:\d+\/hello\?a=1&a=2$/);
  assert.deepEqual(e.request.querystring, { a: ['1', '2'] });
  assert.equal(e.request.headers['x-custom'], 'v');
  assert.equal(e.request.headers.authorization, undefined, 'Authorization is never logged');
  assert.equal(e.request.headers.apikey, undefined);
  assert.ok(!got.body.includes('jack-key') && !got.body.includes('c2VjcmV0OnB3'), got.body);
  assert.ok(e.request.size > 0);
  assert.equal(e.response.status, 200);
  assert.equal(e.response.headers['content-type'], 'text/plain');
  assert.ok(e.response.size > 12);
  assert.equal(e.upstream, `127.0.0.1:${upstream.port}`);
  assert.equal(e.client_ip, '127.0.0.1');
  assert.equal(typeof e.start_time, 'number');
  assert.ok(Math.abs(e.start_time - Date.now()) < 10_000);
  assert.equal(typeof e.latency, 'number');
  assert.equal(typeof e.upstream_latency, 'number');
  assert.ok(e.apisix_latency >= 0);
  assert.equal(e.server.version, JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version);
  assert.equal(e.llm_summary, undefined, 'no LLM members for a traditional request (R-LOG-22)');

  // a rejected request is logged too (R-PIPE-4)
  const denied = await fetch(`${gw.proxyUrl}/hello`);
  assert.equal(denied.status, 401);
  await collector.waitFor(2);
  const e2 = JSON.parse(collector.received[1]!.body);
  assert.equal(e2.response.status, 401);
  assert.equal(e2.upstream, undefined);
  assert.equal(e2.upstream_latency, undefined);
});

test('R-LOG-2 R-LOG-5: log_format, concat_method new_line, batches by size; failed batches retried', async (t) => {
  const collector = await startCollector();
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await collector.close(); await upstream.close(); });

  const put = await gw.admin('PUT', '/apisix/admin/routes/2', {
    uri: '/fmt',
    name: 'fmt-route',
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
    plugins: {
      'http-logger': {
        uri: collector.url,
        batch_max_size: 2,
        concat_method: 'new_line',
        max_retry_count: 1,
        retry_delay: 0,
        log_format: {
          host: '$host',
          '@timestamp': '$time_iso8601',
          client_ip: '$remote_addr',
          missing: '$http_x_missing',
          literal: 'text',
          n: 5,
          nested: { method: '$request_method', type: '$request_type', deep: { a: { b: { c: { d: '$uri' } } } } },
        },
      },
    },
  });
  assert.equal(put.status, 201, put.text);
  collector.failNext = 1; // the first POST fails, the retry succeeds
  const r1 = await fetch(`${gw.proxyUrl}/fmt?x=1`);
  await r1.text();
  const r2 = await rawGet(`${gw.proxyUrl}/fmt`, { host: 'Example.COM' });
  assert.equal(r2.status, 200);
  await collector.waitFor(2);
  assert.equal(collector.received[0]!.body, collector.received[1]!.body, 'the retry sends the same batch');
  const last = collector.received[collector.received.length - 1]!;
  assert.equal(last.headers['content-type'], 'text/plain');
  assert.equal(last.url, '/');
  const lines = last.body.split('\n');
  assert.equal(lines.length, 2);
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.equal(a.host, '127.0.0.1');
  assert.equal(b.host, 'example.com');
  assert.equal(a.client_ip, '127.0.0.1');
  assert.match(a['@timestamp'], /^\d{4}-\d\d-\d\dT/);
  assert.ok(!('missing' in a), 'an unset variable is omitted');
  assert.equal(a.literal, 'text');
  assert.equal(a.n, 5);
  assert.equal(a.nested.method, 'GET');
  assert.equal(a.nested.type, 'traditional_http');
  assert.deepEqual(a.nested.deep, { a: { b: { c: {} } } }, 'objects deeper than 5 levels become {}');
  assert.equal(a.route_id, '2');
  assert.equal(a.service_id, '');

  // a Global Rule logs requests that matched no route: route_id "no-matched"
  const global = await startCollector();
  t.after(() => global.close());
  assert.equal((await gw.admin('PUT', '/apisix/admin/global_rules/1', { plugins: { 'http-logger': { uri: global.url, batch_max_size: 1 } } })).status, 201);
  const nf = await fetch(`${gw.proxyUrl}/no/such/route`);
  assert.equal(nf.status, 404);
  await nf.text();
  await global.waitFor(1);
  const g = JSON.parse(global.received[0]!.body);
  assert.equal(g.route_id, 'no-matched');
  assert.equal(g.response.status, 404);
});

test('R-LOG-4 R-GEN-18: pending batches are flushed on SIGTERM; a hanging collector does not slow requests', async (t) => {
  const collector = await startCollector();
  const hanging = await startCollector();
  hanging.hang = true;
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await collector.close(); await hanging.close(); await upstream.close(); });
  const nodes = { [`127.0.0.1:${upstream.port}`]: 1 };
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/3', {
    uri: '/batched', upstream: { type: 'roundrobin', nodes },
    plugins: { 'http-logger': { uri: collector.url, batch_max_size: 100, inactive_timeout: 60, buffer_duration: 600 } },
  })).status, 201);
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/4', {
    uri: '/slowlog', upstream: { type: 'roundrobin', nodes },
    plugins: { 'http-logger': { uri: hanging.url, batch_max_size: 1, timeout: 1 } },
  })).status, 201);

  // the hanging collector: requests answer as fast as without a logger
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${gw.proxyUrl}/slowlog`);
    assert.equal(r.status, 200);
    await r.text();
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `20 requests with a hanging collector took ${ms} ms`);
  await until(() => hanging.received.length >= 1, 3000, 'the hanging collector was reached');

  for (let i = 0; i < 3; i++) await (await fetch(`${gw.proxyUrl}/batched?i=${i}`)).text();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(collector.received.length, 0, 'nothing sent before the batch is due');
  const code = await gw.stop('SIGTERM');
  assert.equal(code, 0);
  assert.equal(collector.received.length, 1);
  const batch = JSON.parse(collector.received[0]!.body);
  assert.ok(Array.isArray(batch));
  assert.deepEqual(batch.map((e: any) => e.request.uri), ['/batched?i=0', '/batched?i=1', '/batched?i=2']);
  assert.match(gw.stderr(), /Batch Processor\[http logger\] failed to process entries/);
});
