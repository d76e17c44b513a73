// Issue 16 item 3 (R-LOG-4, R-LOG-5): http-logger against a collector that
// hangs, and one that answers 500 forever, under the real CLI. Requests are
// answered as fast as without a logger (nothing waits for the collector),
// and the entries that could not be delivered are counted in
// apisix_log_entries_dropped_total{logger, reason}. The bound of the buffer
// (entries beyond it dropped at once, reason buffer_full) is checked in
// test/observability/batch.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startCollector, startUpstream } from '../loggers/collector.js';
import { until } from '../helpers/wait.js';

const REQUESTS = 200;

async function dropped(gw: GatewayProcess, logger: string, reason: string): Promise<number> {
  const text = await (await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`apisix_log_entries_dropped_total{logger="${logger}",reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** REQUESTS requests, 10 at a time; resolves to the slowest answer in ms */
async function traffic(gw: GatewayProcess, uri: string): Promise<number> {
  let slowest = 0;
  let next = 0;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (next < REQUESTS) {
      next++;
      const t0 = Date.now();
      const res = await fetch(gw.proxyUrl + uri, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      await res.text();
      slowest = Math.max(slowest, Date.now() - t0);
    }
  }));
  return slowest;
}

test('R-LOG-4 R-LOG-5 a hanging collector and one answering 500 forever: requests never wait, undelivered entries are counted in metrics', async (t) => {
  const [hanging, failing, upstream] = await Promise.all([startCollector(), startCollector(), startUpstream()]);
  hanging.hang = true;
  failing.status = 500;
  t.after(() => Promise.all([hanging.close(), failing.close(), upstream.close()]));
  const gw = await startGateway({ config: { nginx_config: { http: { enable_access_log: false } } } });
  t.after(() => gw.kill());
  const nodes = { [`127.0.0.1:${upstream.port}`]: 1 };
  const put = async (id: string, logger: Record<string, unknown>) => {
    const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, { uri: `/${id}`, upstream: { type: 'roundrobin', nodes }, plugins: { 'http-logger': logger } });
    assert.equal(r.status, 201, r.text);
  };
  // the collector timeout (3 s) is what a request would wait if it waited for the logger
  await put('hang', { name: 'hanging collector', uri: hanging.url, batch_max_size: 50, inactive_timeout: 1, timeout: 3, max_retry_count: 0 });
  await put('fail', { name: 'failing collector', uri: failing.url, batch_max_size: 1, timeout: 3, max_retry_count: 1, retry_delay: 0 });

  const slowHang = await traffic(gw, '/hang');
  assert.ok(slowHang < 2000, `slowest request with a hanging collector: ${slowHang} ms`);
  const slowFail = await traffic(gw, '/fail');
  assert.ok(slowFail < 2000, `slowest request with a failing collector: ${slowFail} ms`);

  // every entry is dropped once its batch failed (timed out, or 500 twice)
  await until(async () => (await dropped(gw, 'failing collector', 'retries_exhausted')) === REQUESTS, 15_000, `${REQUESTS} entries of the failing collector counted as dropped`, 100);
  await until(async () => (await dropped(gw, 'hanging collector', 'retries_exhausted')) === REQUESTS, 15_000, `${REQUESTS} entries of the hanging collector counted as dropped`, 100);
  assert.ok(failing.received.length >= 2 * REQUESTS, `each batch was tried twice (${failing.received.length} posts)`);
  assert.ok(hanging.received.length <= REQUESTS / 50 + 4, `batches went out 50 entries at a time (${hanging.received.length} posts)`);
  assert.equal(gw.proc.exitCode, null);
});
