// Observability details of issue 15 through the real CLI:
//  - prom-client's default process metrics on the export listener, with the
//    metric_prefix, summed across proxy workers (R-PROM-1, R-WRK-2);
//  - embeddings requests carry APISIX 3.18's request_type (`ai_chat`: its
//    ai-proxy sets `ai_stream` for streamed bodies and `ai_chat` for every
//    other AI request, embeddings included) in the access log and Prometheus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';
import { find, parseProm, type Sample } from './prom-text.js';

const PROCESS = ['process_cpu_user_seconds_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_version_info'];

async function scrape(gw: GatewayProcess): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  return { text, samples: parseProm(text) };
}

test('process metrics with the metric_prefix, one sample each, from a single process', async (t) => {
  const gw = await startGateway({ config: { plugin_attr: { prometheus: { metric_prefix: 'sy_' } } } });
  t.after(() => gw.stop());
  const { text, samples } = await scrape(gw);
  for (const name of PROCESS) {
    const got = find(samples, `sy_${name}`);
    assert.equal(got.length, 1, `${name}: ${got.length} samples`);
  }
  assert.match(text, /# TYPE sy_process_cpu_user_seconds_total counter/);
  assert.ok(find(samples, 'sy_process_resident_memory_bytes')[0]!.value > 10_000_000, 'a real RSS');
  assert.equal(find(samples, 'sy_nodejs_version_info')[0]!.labels.version, process.version);
  const start = find(samples, 'sy_process_start_time_seconds')[0]!.value;
  assert.ok(Math.abs(start - Date.now() / 1000) < 120, `start time ${start} is now`);
  assert.equal(find(samples, 'process_resident_memory_bytes').length, 0, 'no unprefixed copy');
});

test('R-WRK-2: with two workers the process metrics are summed over the processes; start time and version once', async (t) => {
  const one = await startGateway();
  const two = await startGateway({ config: { nginx_config: { worker_processes: 2 } } });
  t.after(async () => { await one.stop(); await two.stop(); });
  await until(async () => find((await scrape(two)).samples, 'apisix_process_resident_memory_bytes').length === 1, 10_000, 'a scrape with workers');
  const a = (await scrape(one)).samples;
  const b = (await scrape(two)).samples;
  for (const name of PROCESS) assert.equal(find(b, `apisix_${name}`).length, 1, `${name} once with workers`);
  const rss = (s: Sample[]) => find(s, 'apisix_process_resident_memory_bytes')[0]!.value;
  // the primary plus two workers: well above one process of the same program
  assert.ok(rss(b) > rss(a) * 1.8, `summed RSS ${rss(b)} vs one process ${rss(a)}`);
  assert.ok(find(b, 'apisix_process_start_time_seconds')[0]!.value > 0);
});

test('embeddings requests are request_type="ai_chat" (APISIX 3.18) in the access log and Prometheus', async (t) => {
  const mock = await startMockLlm();
  const gw = await startGateway({ config: { nginx_config: { http: { access_log_format: '$uri $request_type $llm_prompt_tokens' } } } });
  t.after(async () => { await gw.stop(); await mock.close(); });
  const put = await gw.admin('PUT', '/apisix/admin/routes/emb', {
    uri: '/v1/embeddings',
    plugins: {
      prometheus: {},
      'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'text-embedding-3-small' }, override: { endpoint: `${mock.url}/v1/embeddings` } },
    },
  });
  assert.equal(put.status, 201, put.text);
  const res = await fetch(`${gw.proxyUrl}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', input: 'hello world' }) });
  assert.equal(res.status, 200);
  const body = await res.json() as { object: string };
  assert.equal(body.object, 'list', 'an embeddings answer');
  const lines = () => {
    try { return readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8').split('\n').filter((l) => l.startsWith('/v1/embeddings ')); } catch { return []; }
  };
  await until(() => lines().length === 1, 5000, 'the access-log line');
  assert.match(lines()[0]!, /^\/v1\/embeddings ai_chat \d+$/);
  let samples: Sample[] = [];
  await until(async () => { samples = (await scrape(gw)).samples; return find(samples, 'apisix_http_status', { route: 'emb' }).length > 0; }, 5000, 'the request counted');
  assert.equal(find(samples, 'apisix_http_status', { route: 'emb' })[0]!.labels.request_type, 'ai_chat');
  assert.equal(find(samples, 'apisix_http_status', { request_type: 'ai_embeddings' }).length, 0);
});
