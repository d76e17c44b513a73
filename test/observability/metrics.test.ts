// The shared registry and the export handler (R-PROM-1, R-PROM-3, R-PROM-5)
// with real RequestContexts (src/proxy/context.ts) built from real requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyContext } from '../../src/proxy/context.js';
import { createMetrics, type ActiveAttempts } from '../../src/observability/metrics.js';
import { createMetricsHandler } from '../../src/observability/metrics-server.js';
import type { RequestContext } from '../../src/core/types.js';
import { find, parseProm } from './prom-text.js';
import { until } from '../helpers/wait.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('R-PROM-1 R-PROM-5: metric_prefix, export_uri, and the active LLM connections gauge across attempts', async (t) => {
  const prom = { export_uri: '/m', export_addr: { ip: '127.0.0.1', port: 0 }, metric_prefix: 'sy_', enable_export_server: true };
  const m = createMetrics({ metric_prefix: 'sy_' });
  const exporter = await serve(createMetricsHandler(prom, m, { health: { report: () => [{ name: '/apisix/routes/1#x', nodes: [{ ip: '10.0.0.1', port: 443, status: 'healthy' }, { ip: '10.0.0.2', port: 443, status: 'unhealthy' }] }] } }));
  const releases: ActiveAttempts[] = [];
  let started = 0;
  const proxy = await serve((req, res) => {
    const ctx = new ProxyContext(req, res, quiet) as unknown as RequestContext;
    ctx.routeId = '1';
    ctx.routeName = 'r1';
    ctx.llm.requestType = 'ai_chat';
    ctx.llm.requestModel = 'gpt-3';
    // first attempt on instance a (fails), fallback to b
    ctx.llm.instanceName = 'a';
    ctx.llm.model = 'gpt-4';
    const first = m.trackLlmAttempt(ctx, 'a');
    first.n--;
    ctx.llm.instanceName = 'b';
    releases.push(m.trackLlmAttempt(ctx, 'b'));
    started++;
    res.end('ok');
  });
  t.after(async () => { await exporter.close(); await proxy.close(); });

  await Promise.all([1, 2, 3].map(async () => (await fetch(proxy.url)).text()));
  assert.equal(started, 3);
  const scrape = async () => {
    const r = await fetch(`${exporter.url}/m`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    return parseProm(await r.text());
  };
  let s = await scrape();
  assert.equal(find(s, 'sy_llm_active_connections', { node: 'b', route: 'r1', route_id: '1', request_type: 'ai_chat', request_llm_model: 'gpt-3', llm_model: 'gpt-4' })[0]?.value, 3);
  assert.equal(find(s, 'sy_llm_active_connections', { node: 'a' })[0]?.value, 0);
  assert.equal(find(s, 'apisix_llm_active_connections').length, 0, 'every name carries metric_prefix');
  assert.equal(new Set(releases).size, 1, 'one entry per label set');
  for (const e of releases) e.n--;
  s = await scrape();
  assert.equal(find(s, 'sy_llm_active_connections', { node: 'b' })[0]?.value, 0);
  assert.equal(find(s, 'sy_node_info')[0]?.value, 1);
  assert.deepEqual(find(s, 'sy_upstream_status').map((x) => [x.labels.ip, x.value]), [['10.0.0.1', 1], ['10.0.0.2', 0]]);
  const other = await fetch(`${exporter.url}/apisix/prometheus/metrics`);
  assert.equal(other.status, 404);
  await other.text();
});

test('R-PROM-3: default_buckets and llm_latency_buckets configure the histograms', async (t) => {
  let recorded = 0;
  const m = createMetrics({ default_buckets: [10, 100], llm_latency_buckets: [5000] });
  const proxy = await serve((req, res) => {
    const ctx = new ProxyContext(req, res, quiet) as unknown as RequestContext;
    ctx.routeId = 'r';
    ctx.llm.requestType = 'ai_stream';
    ctx.llm.instanceName = 'i';
    ctx.llm.timeToFirstTokenMs = 42;
    ctx.llm.promptTokens = 3;
    res.end('x', () => { m.recordRequest(ctx); recorded++; });
  });
  t.after(() => proxy.close());
  await (await fetch(proxy.url)).text();
  await until(() => recorded === 1, 3000, 'the request recorded');
  const s = parseProm(await m.registry.metrics());
  const les = find(s, 'apisix_http_latency_bucket', { type: 'request' }).map((x) => x.labels.le);
  assert.deepEqual(les, ['10', '100', '+Inf']);
  assert.deepEqual(find(s, 'apisix_llm_latency_bucket').map((x) => `${x.labels.le}=${x.value}`), ['5000=1', '+Inf=1']);
  assert.equal(find(s, 'apisix_llm_latency_sum')[0]?.value, 42);
  assert.equal(find(s, 'apisix_llm_prompt_tokens', { request_type: 'ai_stream', node: 'i', route_id: 'r' })[0]?.value, 3);
});

test('R-PROM-2 R-PROM-3: prefer_name labels routes and services by name; response_source upstream / apisix / nginx', async (t) => {
  let recorded = 0;
  const m = createMetrics({});
  const cases: Array<(ctx: RequestContext) => Record<string, string>> = [
    (ctx) => { ctx.upstreamAttempts.push({ addr: '10.0.0.1:80', status: 200, time: 0.01 }); ctx.status = 200; return {}; },
    (ctx) => { ctx.status = 401; return {}; },
    (ctx) => { ctx.upstreamAttempts.push({ addr: '10.0.0.1:80', status: 502, time: 0.01 }); ctx.status = 502; return { 'content-type': 'text/html' }; },
  ];
  let i = 0;
  const proxy = await serve((req, res) => {
    const ctx = new ProxyContext(req, res, quiet) as unknown as RequestContext;
    ctx.routeId = 'r-id';
    ctx.routeName = 'r-name';
    ctx.serviceId = 's-id';
    ctx.serviceName = 's-name';
    const headers = cases[i++]!(ctx);
    ctx.writeHead(ctx.status, headers);
    res.end('x', () => { m.recordRequest(ctx, { preferName: true }); recorded++; });
  });
  t.after(() => proxy.close());
  for (let k = 0; k < cases.length; k++) await (await fetch(proxy.url)).text();
  await until(() => recorded === cases.length, 3000, 'every request recorded');
  const s = parseProm(await m.registry.metrics());
  const rows = find(s, 'apisix_http_status', { route: 'r-name', service: 's-name' }).map((x) => `${x.labels.code}:${x.labels.response_source}`).sort();
  assert.deepEqual(rows, ['200:upstream', '401:apisix', '502:nginx']);
  assert.equal(find(s, 'apisix_http_latency_count', { type: 'upstream', route: 'r-name' }).reduce((n, x) => n + x.value, 0), 2);
  assert.equal(find(s, 'apisix_http_status', { route: 'r-id' }).length, 0);
});

test('R-PROM-2 R-PROM-3 R-RTY-4 R-PROM-5: requests whose labels change, repeat and come back, over instances taking turns, are each counted in their own series', async (t) => {
  let recorded = 0;
  const m = createMetrics({});
  // route, consumer, status, attempt outcome, instance: repeats, switches and
  // returns to earlier label sets, with two instances alternating as a
  // balancer makes them (each keeps its own last label set)
  const seq: Array<[string, string, number, string, string]> = [
    ['a', 'u1', 200, 'ok', 'i1'], ['a', 'u1', 200, 'ok', 'i2'], ['b', 'u1', 200, 'ok', 'i1'], ['a', 'u1', 429, '429', 'i2'],
    ['a', 'u2', 200, 'ok', 'i1'], ['a', 'u1', 200, 'ok', 'i2'], ['b', 'u1', 200, 'ok', 'i2'], ['a', 'u1', 429, '429', 'i1'],
    ['a', 'u1', 200, 'ok', 'i1'], ['a', 'u1', 200, 'ok', 'i1'], ['a', 'u1', 200, 'ok', 'i2'],
  ];
  const active = new Map<ActiveAttempts, string>();
  let i = 0;
  const proxy = await serve((req, res) => {
    const ctx = new ProxyContext(req, res, quiet) as unknown as RequestContext;
    const [route, user, status, outcome, inst] = seq[i++]!;
    ctx.routeId = route;
    ctx.consumer = { username: user } as RequestContext['consumer'];
    ctx.llm.requestType = 'ai_chat';
    ctx.llm.instanceName = inst;
    ctx.llm.attempts = [{ instance: inst, outcome, ms: 1 }];
    const entry = m.trackLlmAttempt(ctx, inst);
    active.set(entry, `${route}/${user}/${inst}`);
    assert.deepEqual([entry.labels.route_id, entry.labels.consumer, entry.labels.node], [route, user, inst], 'the entry of this label set');
    entry.n--;
    ctx.upstreamAttempts.push({ addr: '10.0.0.1:80', status, time: 0.001 });
    ctx.writeHead(status, {});
    res.end('x', () => { m.recordRequest(ctx); recorded++; });
  });
  t.after(() => proxy.close());
  for (let k = 0; k < seq.length; k++) await (await fetch(proxy.url)).text();
  await until(() => recorded === seq.length, 3000, 'every request recorded');
  const count = (f: (x: (typeof seq)[number]) => string) => {
    const c = new Map<string, number>();
    for (const x of seq) c.set(f(x), (c.get(f(x)) ?? 0) + 1);
    return [...c].map(([k, n]) => `${k}=${n}`).sort();
  };
  assert.equal(new Set(active.values()).size, active.size, 'one active entry per label set');
  assert.equal(active.size, new Set(seq.map(([r, u, , , n]) => `${r}/${u}/${n}`)).size);
  const s = parseProm(await m.registry.metrics());
  // the registry is shared with the tests above: only this test's routes
  const ours = (x: { labels: Record<string, string> }) => ['a', 'b'].includes(x.labels.route ?? x.labels.route_id ?? '');
  const status = find(s, 'apisix_http_status').filter(ours).map((x) => `${x.labels.route}/${x.labels.consumer}/${x.labels.node}/${x.labels.code}=${x.value}`).sort();
  assert.deepEqual(status, count(([r, u, st, , n]) => `${r}/${u}/${n}/${st}`));
  const attempts = find(s, 'apisix_llm_attempts_total').filter(ours).map((x) => `${x.labels.route_id}/${x.labels.instance}/${x.labels.outcome}=${x.value}`).sort();
  assert.deepEqual(attempts, count(([r, , , o, n]) => `${r}/${n}/${o}`));
  const latency = find(s, 'apisix_http_latency_count', { type: 'request' }).filter(ours).map((x) => `${x.labels.route}/${x.labels.consumer}/${x.labels.node}=${x.value}`).sort();
  assert.deepEqual(latency, count(([r, u, , , n]) => `${r}/${u}/${n}`));
});

test('R-PROM-2 issue 11: each gateway owns its registry; a request recorded in one is not seen in another', async (t) => {
  const a = createMetrics({});
  const b = createMetrics({});
  let recorded = 0;
  const srv = await serve((req, res) => {
    const ctx = new ProxyContext(req, res, quiet) as unknown as RequestContext;
    ctx.routeId = 'own';
    res.end('x', () => { a.recordRequest(ctx); a.noteProxyRequest(ctx); recorded++; });
  });
  t.after(() => srv.close());
  await (await fetch(srv.url)).text();
  await until(() => recorded === 1);
  const sa = parseProm(await a.registry.metrics());
  const sb = parseProm(await b.registry.metrics());
  assert.equal(find(sa, 'apisix_http_status', { route: 'own', code: '200' })[0]?.value, 1);
  assert.equal(find(sa, 'apisix_http_requests_total')[0]?.value, 1);
  assert.equal(find(sb, 'apisix_http_status', { route: 'own' }).length, 0);
  assert.equal(find(sb, 'apisix_http_requests_total')[0]?.value, 0);
});
