// collectStats (R-UI-1) over hand-made sources: the fields other parts of the
// gateway add (cool-downs in the health report, R-PHC-2; quota reservations,
// R-QTA-1; the attempts trail, R-RTY-4) are read when present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectStats, histogramQuantile, quantile } from '../../src/admin/dashboard/stats.js';
import type { RequestView } from '../../src/observability/recent-requests.js';
import { compileRateLimit } from '../../src/plugins/ai-rate-limiting/index.js';
import { createMemoryState } from '../../src/state/memory.js';
import { memLog } from '../helpers/wait.js';
import { gatewayServices } from '../helpers/gateway-services.js';

const route = {
  id: '1',
  uri: '/chat',
  plugins: {
    'ai-proxy-multi': {
      instances: [
        { name: 'a', provider: 'openai', weight: 1, priority: 1, options: { model: 'm-a' }, override: { endpoint: 'http://127.0.0.1:7001' } },
        { name: 'b', provider: 'deepseek', weight: 1, options: { model: 'm-b' } },
      ],
    },
  },
};
const store = { snapshot: () => new Map([['/apisix/routes/1', { value: route }]]) as never };

const view = (o: Partial<RequestView>): RequestView => ({
  seq: 1, time: 0, method: 'POST', uri: '/chat', status: 200, route_id: '1', consumer: 'alice', instance: 'b', provider: null,
  request_model: null, model: null, stream: false, prompt_tokens: 10, completion_tokens: 5, total_tokens: 15,
  latency_ms: 40, ttft_ms: 20, attempts: [], ...o,
});

test('R-UI-1 R-PHC-2 health and cool-down come from the health report of the instance\'s checker', async () => {
  const health = {
    report: () => [
      { name: "/apisix/routes/1#plugins['ai-proxy-multi'].instances[0]", instance: 'a', type: 'http', nodes: [{ ip: '127.0.0.1', port: 7001, status: 'cooling_down', cooldown_left_s: 12 }] },
      { name: "/apisix/routes/1#plugins['ai-proxy-multi'].instances[1]", instance: 'b', type: 'http', nodes: [{ ip: '1.2.3.4', port: 443, status: 'healthy' }] },
      { name: "/apisix/routes/2#plugins['ai-proxy-multi'].instances[0]", instance: 'a', type: 'http', nodes: [{ status: 'unhealthy' }] },
    ],
  };
  const s = await collectStats(store, { health }, 'viewer');
  assert.equal(s.role, 'viewer');
  const [a, b] = s.instances;
  assert.equal(a!.health, 'cooling_down');
  assert.equal(a!.cooldown_left_s, 12);
  assert.equal(b!.health, 'healthy');
  assert.equal(b!.cooldown_left_s, null);
  assert.equal(b!.provider, 'deepseek');
});

test('R-UI-1 R-RTY-4 the attempts trail counts requests and failures per instance; skipped instances are not requests', async () => {
  const recent = [
    view({ seq: 2, instance: 'b', attempts: [{ instance: 'a', outcome: 'timeout', ms: 3000 }, { instance: 'b', outcome: 'ok', ms: 40 }] }),
    view({ seq: 1, instance: 'b', attempts: [{ instance: 'a', outcome: 'cooling_down', ms: 0 }, { instance: 'b', outcome: 'ok', ms: 60 }], latency_ms: 60 }),
  ];
  const s = await collectStats(store, { recent: { total: 2, snapshot: async () => recent } }, 'admin');
  const [a, b] = s.instances;
  assert.equal(a!.requests, 1);
  assert.deepEqual(a!.failures, { timeout: 1, cooling_down: 1 });
  assert.equal(b!.requests, 2);
  assert.deepEqual(b!.tokens, { prompt: 20, completion: 10, total: 30 });
  assert.equal(b!.latency_ms.p50, 40);
  assert.equal(b!.latency_ms.p99, 60);
  assert.equal(s.requests_seen, 2);
});

test('R-UI-1 an attempt known only by its address is named from the instance endpoint', async () => {
  const recent = [view({ instance: 'a', status: 502, attempts: [{ addr: '127.0.0.1:7001', outcome: '502', ms: 5 }] })];
  const s = await collectStats(store, { recent: { total: 1, snapshot: () => recent } }, 'admin');
  assert.equal(s.recent[0]!.attempts[0]!.instance, 'a');
  assert.deepEqual(s.instances[0]!.failures, { '502': 1 });
});

test('R-UI-1 R-QTA-1 quota rows: used, reserved (0 when a reserving state leaves it out) and remaining', async () => {
  const log = memLog();
  const mem = createMemoryState();
  const c = compileRateLimit({ instances: [{ name: 'a', limit: 100, time_window: 60 }] }, { parentKey: '/apisix/routes/1', confHash: 'h', state: mem, ...gatewayServices(), log });
  await mem.charge(`${c.keyBase}|i|a`, 30, 60);
  const { quotaRows } = await import('../../src/plugins/ai-rate-limiting/status.js');
  // a state that reports reservations
  const reserving = { ...mem, reserve: async () => ({ admitted: true }), peek: async (k: string) => ({ ...(await mem.peek(k)), reserved: 25 }) };
  const [r1] = await quotaRows({ ...c, state: reserving as never }, ['a'], []);
  assert.deepEqual({ used: r1!.used, reserved: r1!.reserved, remaining: r1!.remaining, limit: r1!.limit }, { used: 30, reserved: 25, remaining: 45, limit: 100 });
  // one that does not keep reservations shows none (null), one that does but has none shows 0
  const [r2] = await quotaRows(c, ['a'], []);
  assert.equal(r2!.reserved, (mem as { reserve?: unknown }).reserve ? 0 : null);
  assert.equal(r2!.remaining, 70);
  // a counter that cannot be read is reported on its row
  const broken = { ...mem, peek: async () => { throw new Error('redis down'); } };
  const [r3] = await quotaRows({ ...c, state: broken as never }, ['a'], []);
  assert.match(r3!.error!, /counter unavailable: redis down/);
  await mem.close();
});

test('R-UI-1 quantiles: histogram interpolation and nearest rank', () => {
  assert.equal(histogramQuantile([10, 20, 50], [0, 0, 0, 0], 0.5), null);
  assert.equal(histogramQuantile([10, 20, 50], [10, 10, 0, 0], 0.5), 10);
  assert.equal(histogramQuantile([10, 20, 50], [0, 10, 0, 0], 0.5), 15);
  assert.equal(histogramQuantile([10, 20, 50], [0, 0, 0, 5], 0.99), 50);
  assert.equal(quantile([5, 1, 3], 0.5), 3);
  assert.equal(quantile([], 0.5), null);
});
