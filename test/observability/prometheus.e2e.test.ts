// Prometheus through the real CLI against the mock LLM (R-PROM-1..6, R-SCN-13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { chatCompletion, startMockLlm } from '../helpers/mock-llm.js';
import { startUpstream, until } from '../loggers/collector.js';
import { find, parseProm } from './prom-text.js';

test('R-PROM-6 R-PROM-3 R-PROM-4 R-SCN-13: LLM series with model/token labels; a traditional request adds no apisix_llm_ series', async (t) => {
  const mock = await startMockLlm();
  mock.reply((req) => ({ delayMs: 5, json: chatCompletion('gpt-4', 'hi', { prompt_tokens: 8, completion_tokens: 5, total_tokens: 13 }) }));
  void mock;
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await mock.close(); await upstream.close(); });
  assert.ok(gw.metricsUrl, 'the export listener is up');

  const put = await gw.admin('PUT', '/apisix/admin/routes/1', {
    uri: '/chat',
    plugins: {
      prometheus: {},
      'ai-proxy-multi': {
        instances: [{ name: 'openai-gpt4', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } }],
      },
    },
  });
  assert.equal(put.status, 201, put.text);
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/2', {
    uri: '/plain', plugins: { prometheus: {} }, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
  })).status, 201);

  const r = await fetch(`${gw.proxyUrl}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-3', messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(r.status, 200);
  await r.text();
  const p = await fetch(`${gw.proxyUrl}/plain`);
  assert.equal(p.status, 200);
  await p.text();

  const scrape = async () => {
    const res = await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`);
    assert.equal(res.status, 200);
    return parseProm(await res.text());
  };
  let s = await scrape();
  await until(async () => { s = await scrape(); return find(s, 'apisix_http_status', { route: '2' }).length > 0; }, 3000, 'both requests recorded');

  const llm = { route_id: '1', service_id: '', consumer: '', node: 'openai-gpt4', request_type: 'ai_chat', request_llm_model: 'gpt-3', llm_model: 'gpt-4' };
  assert.equal(find(s, 'apisix_llm_prompt_tokens', llm)[0]?.value, 8);
  assert.equal(find(s, 'apisix_llm_completion_tokens', llm)[0]?.value, 5);
  assert.equal(find(s, 'apisix_llm_latency_count', llm)[0]?.value, 1);
  assert.deepEqual(Object.keys(find(s, 'apisix_llm_prompt_tokens', llm)[0]!.labels).sort(), Object.keys(llm).sort());

  const status = find(s, 'apisix_http_status', { route: '1' });
  assert.equal(status.length, 1);
  assert.deepEqual({ ...status[0]!.labels }, {
    code: '200', route: '1', matched_uri: status[0]!.labels.matched_uri, matched_host: status[0]!.labels.matched_host, service: '', consumer: '', node: 'openai-gpt4',
    request_type: 'ai_chat', request_llm_model: 'gpt-3', llm_model: 'gpt-4', response_source: 'upstream',
  });
  assert.equal(status[0]!.value, 1);
  for (const type of ['request', 'upstream', 'apisix']) {
    assert.equal(find(s, 'apisix_http_latency_count', { type, route: '1', node: 'openai-gpt4', llm_model: 'gpt-4' })[0]?.value, 1, type);
  }
  assert.ok(find(s, 'apisix_bandwidth', { type: 'ingress', route: '1' })[0]!.value > 0);
  assert.ok(find(s, 'apisix_bandwidth', { type: 'egress', route: '1' })[0]!.value > 0);

  // the traditional request: counted, no LLM series
  const plain = find(s, 'apisix_http_status', { route: '2' })[0]!;
  assert.equal(plain.labels.request_type, 'traditional_http');
  assert.equal(plain.labels.node, '127.0.0.1');
  assert.equal(plain.labels.response_source, 'upstream');
  assert.equal(s.filter((x) => x.name.startsWith('apisix_llm_') && x.labels.route_id === '2').length, 0);
  assert.ok(find(s, 'apisix_http_requests_total')[0]!.value >= 2);
  assert.equal(find(s, 'apisix_node_info')[0]?.value, 1);
  assert.ok(find(s, 'apisix_nginx_http_current_connections', { state: 'accepted' })[0]!.value >= 1);

  // a request rejected by the gateway: response_source apisix
  await (await fetch(`${gw.proxyUrl}/chat`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<x/>' })).text();
  await until(async () => { s = await scrape(); return find(s, 'apisix_http_status', { route: '1', response_source: 'apisix' }).length > 0; }, 3000, 'the rejected request');
});

test('R-PROM-5 R-PROM-4: apisix_llm_active_connections reads 3 with three requests in flight to a slow instance, 0 afterwards, also across fallbacks', async (t) => {
  const mock = await startMockLlm();
  mock.reply({ delayMs: 1500, json: chatCompletion('gpt-4') });
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await mock.close(); });
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/1', {
    uri: '/chat',
    plugins: { 'ai-proxy-multi': { instances: [{ name: 'slow', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } }] } },
  })).status, 201);
  const active = async () => {
    const s = parseProm(await (await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`)).text());
    return find(s, 'apisix_llm_active_connections', { node: 'slow' }).reduce((n, x) => n + x.value, 0);
  };
  const inflight = [1, 2, 3].map(async () => (await fetch(`${gw.proxyUrl}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[{"role":"user","content":"x"}]}' })).text());
  await until(() => mock.requests.length === 3, 3000, 'three upstream requests');
  assert.equal(await active(), 3);
  await Promise.all(inflight);
  await until(async () => (await active()) === 0, 3000, 'the gauge back to 0');

  // a fallback after 429, a stream, a client abort: every attempt is released
  const busy = await startMockLlm();
  busy.reply({ status: 429, json: { error: { message: 'rate limited' } } });
  t.after(() => busy.close());
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/2', {
    uri: '/fb',
    plugins: { 'ai-proxy-multi': {
      fallback_strategy: ['http_429'],
      instances: [
        { name: 'first', provider: 'openai', weight: 1, priority: 1, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: busy.url } },
        { name: 'second', provider: 'openai', weight: 1, priority: 0, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4o' }, override: { endpoint: mock.url } },
      ],
    } },
  })).status, 201);
  mock.reply((req) => (req.body?.stream ? {} : { json: chatCompletion('gpt-4o') }));
  const fb = await fetch(`${gw.proxyUrl}/fb`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[{"role":"user","content":"x"}]}' });
  assert.equal(fb.status, 200);
  await fb.text();
  const st = await fetch(`${gw.proxyUrl}/fb`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"stream":true,"messages":[{"role":"user","content":"x"}]}' });
  await st.text();
  mock.reply({ delayMs: 3000, json: chatCompletion('gpt-4o') });
  const ac = new AbortController();
  const aborted = fetch(`${gw.proxyUrl}/fb`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' }, body: '{"messages":[{"role":"user","content":"x"}]}' }).catch(() => undefined);
  const before = mock.requests.length;
  await until(() => mock.requests.length > before, 3000, 'the slow attempt started');
  ac.abort();
  await aborted;
  await until(async () => {
    const s = parseProm(await (await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`)).text());
    const series = find(s, 'apisix_llm_active_connections');
    return series.length >= 3 && series.every((x) => x.value === 0);
  }, 3000, 'every active-connection series back to 0');
  const s = parseProm(await (await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`)).text());
  // the labels of an attempt are those known when it started: its instance and its model
  const first = find(s, 'apisix_llm_active_connections', { node: 'first' });
  assert.deepEqual([...new Set(first.map((x) => `${x.labels.request_type}/${x.labels.llm_model}=${x.value}`))].sort(), ['ai_chat/gpt-4=0', 'ai_stream/gpt-4=0']);
  const second = find(s, 'apisix_llm_active_connections', { node: 'second' });
  assert.deepEqual([...new Set(second.map((x) => `${x.labels.request_type}/${x.labels.llm_model}=${x.value}`))].sort(), ['ai_chat/gpt-4o=0', 'ai_stream/gpt-4o=0']);
});
