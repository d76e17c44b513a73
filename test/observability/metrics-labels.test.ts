// apisix_http_status labels through the real pipeline (src/proxy/server.ts):
// matched_uri / matched_host of the matched route and response_source for
// relayed, gateway-produced and transport-failure responses (R-PROM-3).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMockLlm } from '../helpers/mock-llm.js';
import { req, startHarness, startUpstream } from '../proxy/harness.js';
import { find, parseProm } from './prom-text.js';
import { until } from '../helpers/wait.js';
import { closedPort } from '../helpers/ports.js';

const mock = await startMockLlm();
const up = await startUpstream();
const h = await startHarness();
const m = h.metrics;
after(async () => {
  await h.close();
  await up.close();
  await mock.close();
});

/** sends a request and waits until its log phase (prometheus) ran */
async function send(path: string, init: Parameters<typeof req>[1] = {}) {
  const n = h.logged.length;
  const r = await req(`${h.url}${path}`, init);
  await until(() => h.logged.length > n);
  return r;
}

const scrape = async () => parseProm(await m.registry.metrics());

const instance = (endpoint: string) => ({
  name: 'llm', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } },
  options: { model: 'gpt-4' }, override: { endpoint },
});
const chat = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
const json = { 'content-type': 'application/json' };

test('R-PROM-3: matched_uri and matched_host carry the matched route\'s uri pattern and host pattern', async () => {
  const upstream = { type: 'roundrobin', nodes: { [up.hostPort]: 1 } };
  h.store.putSync('/apisix/routes/wild', { uri: '/v1/*', hosts: ['*.example.com', 'api.other.org'], plugins: { prometheus: {} }, upstream });
  h.store.putSync('/apisix/routes/exact', { uris: ['/a', '/plain'], plugins: { prometheus: {} }, upstream });
  assert.equal((await send('/v1/models', { headers: { host: 'eu.example.com' } })).status, 200);
  assert.equal((await send('/v1/x', { headers: { host: 'api.other.org:9080' } })).status, 200);
  assert.equal((await send('/plain', { headers: { host: 'whatever' } })).status, 200);
  const s = await scrape();
  const rows = find(s, 'apisix_http_status', { code: '200' })
    .filter((x) => x.labels.route === 'wild' || x.labels.route === 'exact')
    .map((x) => `${x.labels.route} ${x.labels.matched_uri} ${x.labels.matched_host} ${x.value}`)
    .sort();
  assert.deepEqual(rows, [
    'exact /plain  1',
    'wild /v1/* *.example.com 1',
    'wild /v1/* api.other.org 1',
  ]);
  // the access log variables agree
  const last = h.logged[h.logged.length - 1]!;
  assert.equal(last.getVar('matched_uri'), '/plain');
  assert.equal(last.getVar('matched_host'), undefined);
});

test('R-PROM-3: response_source is nginx for a refused LLM connection (500 page), upstream when relayed, apisix when produced by the gateway', async () => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  h.store.putSync('/apisix/routes/refused', { uri: '/refused', plugins: { prometheus: {}, 'ai-proxy-multi': { instances: [instance(dead)] } } });
  h.store.putSync('/apisix/routes/llm', { uri: '/llm', plugins: { prometheus: {}, 'ai-proxy-multi': { instances: [instance(mock.url)] } } });

  const refused = await send('/refused', { method: 'POST', headers: json, body: chat });
  assert.equal(refused.status, 500);
  assert.match(refused.text, /500 Internal Server Error/);
  const ok = await send('/llm', { method: 'POST', headers: json, body: chat });
  assert.equal(ok.status, 200);
  const bad = await send('/llm', { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<x/>' });
  assert.equal(bad.status, 400);

  const s = await scrape();
  assert.deepEqual(find(s, 'apisix_http_status', { route: 'refused' }).map((x) => `${x.labels.code}:${x.labels.response_source}`), ['500:nginx']);
  assert.deepEqual(
    find(s, 'apisix_http_status', { route: 'llm' }).map((x) => `${x.labels.code}:${x.labels.response_source}`).sort(),
    ['200:upstream', '400:apisix'],
  );
});

test('R-PROM-3: response_source for plain proxying: relayed 502 is upstream, a refused node is nginx', async () => {
  const dead = await closedPort();
  const bad = (await import('../proxy/harness.js')).startUpstream;
  const up502 = await bad((_q, res) => {
    res.statusCode = 502;
    res.setHeader('content-type', 'application/json');
    res.end('{"error":"upstream says 502"}');
  });
  try {
    h.store.putSync('/apisix/routes/p502', { uri: '/p502', plugins: { prometheus: {} }, upstream: { type: 'roundrobin', nodes: { [up502.hostPort]: 1 } } });
    h.store.putSync('/apisix/routes/pdead', { uri: '/pdead', plugins: { prometheus: {} }, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${dead}`]: 1 } } });
    assert.equal((await send('/p502')).status, 502);
    assert.equal((await send('/pdead')).status, 502);
    const s = await scrape();
    assert.deepEqual(find(s, 'apisix_http_status', { route: 'p502' }).map((x) => x.labels.response_source), ['upstream']);
    assert.deepEqual(find(s, 'apisix_http_status', { route: 'pdead' }).map((x) => x.labels.response_source), ['nginx']);
  } finally {
    await up502.close();
  }
});
