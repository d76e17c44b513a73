import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DashboardStats, percentile } from '../../src/observability/dashboard-stats.js';

const view = (o: Partial<Parameters<DashboardStats['record']>[0]>) => ({
  method: 'POST', uri: '/v1/chat/completions', status: 200, routeId: 'r1', consumer: 'alice', instance: 'a',
  model: 'm', promptTokens: 1, completionTokens: 2, totalTokens: 3, latencyMs: 10, ttftMs: 0, attempts: [], ...o,
});

test('R-UI-1 stats: per-instance counters, failures by outcome, percentiles, ring of last requests', () => {
  const s = new DashboardStats(3);
  s.record(view({ latencyMs: 5 }));
  s.record(view({ status: 502, latencyMs: 100, uri: '/x' }));
  s.record(view({ status: 429, instance: 'b' }));
  s.record(view({ uri: '/last', attempts: [{ addr: '127.0.0.1:1', status: 500, time: 0.01 }] }));
  const snap = s.snapshot();
  const a = snap.instances.a as { requests: number; failures: Record<string, number>; tokens: { total: number }; latency_ms: { p50: number; p99: number } };
  assert.equal(a.requests, 3);
  assert.deepEqual(a.failures, { '5xx': 1 });
  assert.equal(a.tokens.total, 9);
  assert.equal(a.latency_ms.p50, 16);
  assert.equal(a.latency_ms.p99, 128);
  assert.deepEqual((snap.instances.b as { failures: Record<string, number> }).failures, { '429': 1 });
  assert.deepEqual(snap.recent.map((r) => r.uri), ['/last', '/v1/chat/completions', '/v1/chat/completions']);
  assert.equal(snap.recent[0]!.attempts.length, 1);
  assert.equal(percentile(new Uint32Array(24), 0.5), 0);
});
