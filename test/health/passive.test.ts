// R-PHC-1 passive health checks, unit level against the HealthService and the
// ai-proxy-multi schema: real traffic (observe()) meeting an unhealthy
// threshold marks the instance unhealthy as an active check would; without
// `checks.active` it comes back after `healthy.successes` trial requests,
// one at a time, after a cool-down (shortened here); with `checks.active`
// the active checker brings it back. R-PHC-2 cool-downs at the same level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHealthService, normalizePassive } from '../../src/llm/health/index.js';
import type { HealthReportEntry, HealthTarget } from '../../src/llm/health/types.js';
import { validateSchema } from '../../src/schema/validate.js';
import { schema as multiSchema } from '../../src/plugins/ai-proxy-multi/schema.js';
import { memState, captureLog, waitFor, probeServer } from './util.js';

function svc(opts: Partial<Parameters<typeof createHealthService>[0]> = {}) {
  const log = captureLog();
  const s = createHealthService({ state: memState(), disabled: false, log, trialDelayMs: 150, ...opts });
  return { s, log };
}
const entry = (s: { report(): unknown[] }, name: string) => (s.report() as HealthReportEntry[]).find((e) => e.instance === name);
const target = (name: string, checks?: Record<string, unknown>, port = 9): HealthTarget => ({ name, scheme: 'http', host: '127.0.0.1', port, checks });

test('R-PHC-1 normalizePassive: APISIX defaults; absent passive is undefined', () => {
  assert.equal(normalizePassive({ active: {} }), undefined);
  assert.equal(normalizePassive(undefined), undefined);
  const p = normalizePassive({ passive: {} })!;
  assert.equal(p.type, 'http');
  assert.deepEqual([...p.healthy.statuses], [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]);
  assert.equal(p.healthy.successes, 5);
  assert.deepEqual([...p.unhealthy.statuses], [429, 500, 503]);
  assert.equal(p.unhealthy.httpFailures, 5);
  assert.equal(p.unhealthy.tcpFailures, 2);
  assert.equal(p.unhealthy.timeouts, 7);
  assert.equal(normalizePassive({ passive: { unhealthy: { http_failures: 0 } } })!.unhealthy.httpFailures, 0);
});

test('R-PHC-1 schema: passive alone or with active; defaults filled; bad values named', () => {
  const inst = (checks: unknown) => ({
    instances: [
      { name: 'a', provider: 'openai', weight: 1, auth: { header: { Authorization: 'k' } }, checks },
      { name: 'b', provider: 'openai', weight: 1, auth: { header: { Authorization: 'k' } } },
    ],
  });
  const ok = validateSchema(multiSchema, inst({ passive: {} }));
  assert.ok(ok.ok, (ok as any).error);
  const p = (ok as any).value.instances[0].checks.passive;
  assert.deepEqual([p.type, p.healthy.successes, p.unhealthy.http_statuses, p.unhealthy.http_failures, p.unhealthy.tcp_failures, p.unhealthy.timeouts], ['http', 5, [429, 500, 503], 5, 2, 7]);
  assert.ok(validateSchema(multiSchema, inst({ active: {}, passive: { unhealthy: { http_failures: 0 } } })).ok);
  assert.ok(validateSchema(multiSchema, inst({ active: {} })).ok);
  const none = validateSchema(multiSchema, inst({}));
  assert.ok(!none.ok);
  assert.match((none as any).error, /checks.*matches none of the required: \["active"\] or \["passive"\]/);
  for (const [bad, what] of [
    [{ passive: { unhealthy: { http_failures: 255 } } }, /http_failures/],
    [{ passive: { unhealthy: { timeouts: -1 } } }, /timeouts/],
    [{ passive: { healthy: { http_statuses: [100] } } }, /http_statuses/],
    [{ passive: { healthy: { http_statuses: [] } } }, /http_statuses/],
    [{ passive: { type: 'udp' } }, /type/],
    [{ passive: { unhealthy: { tcp_failures: 'x' } } }, /tcp_failures/],
  ] as const) {
    const r = validateSchema(multiSchema, inst(bad));
    assert.ok(!r.ok, JSON.stringify(bad));
    assert.match((r as any).error, what);
  }
});

test('R-PHC-1 passive only: failures reach the threshold -> unhealthy; trials one at a time after the cool-down; successes -> healthy', async () => {
  const { s, log } = svc();
  const h = s.register('/apisix/routes/p', 'c1', [
    target('a', { passive: { healthy: { successes: 2 }, unhealthy: { http_failures: 3 } } }),
    target('b'),
  ]);
  const v0 = h.version;
  h.observe('a', 'status', 500, undefined);
  h.observe('a', 'status', 404, undefined); // neither healthy nor unhealthy: ignored
  h.observe('a', 'status', 503, undefined);
  assert.equal(h.isHealthy('a'), true, 'mostly_healthy still serves');
  assert.equal(entry(s, 'a')?.nodes[0]!.status, 'mostly_healthy');
  h.observe('a', 'status', 429, undefined);
  assert.equal(h.isHealthy('a'), false);
  assert.ok(h.version > v0);
  const e = entry(s, 'a')!;
  assert.deepEqual([e.type, e.nodes[0]!.status, e.nodes[0]!.counter.http_failure], ['http', 'unhealthy', 3]);
  assert.equal(entry(s, 'b'), undefined, 'no checks: not listed');
  assert.equal(h.trialOpen('a'), false, 'no trial before the cool-down');
  assert.ok(log.lines.some((l) => l.includes('healthy -> unhealthy') || l.includes('mostly_healthy -> unhealthy')), log.lines.join('\n'));

  await waitFor(() => h.trialOpen('a'), 3000, 'trial open');
  assert.equal(h.isHealthy('a'), false);
  assert.equal(h.claimTrial('a'), true);
  assert.equal(h.claimTrial('a'), false, 'one trial at a time');
  assert.equal(h.trialOpen('a'), false);
  const v1 = h.version;
  h.observe('a', 'status', 200, undefined);
  assert.ok(h.version > v1, 'the end of a trial is a change for the balancer');
  assert.equal(entry(s, 'a')?.nodes[0]!.status, 'mostly_unhealthy');
  assert.equal(h.trialOpen('a'), true, 'the next trial follows a successful one at once');
  assert.equal(h.claimTrial('a'), true);
  h.observe('a', 'status', 201, undefined);
  assert.equal(h.isHealthy('a'), true);
  assert.equal(entry(s, 'a')?.nodes[0]!.status, 'healthy');
  assert.equal(h.trialOpen('a'), false);
  h.destroy();
  s.close();
});

test('R-PHC-1 a failed trial waits another cool-down; an ignored one (client gone) frees the trial; a stale claim is given back', async () => {
  const { s } = svc({ trialLeaseMs: 200 });
  const h = s.register('/apisix/routes/p', 'c2', [target('a', { passive: { healthy: { successes: 1 }, unhealthy: { tcp_failures: 1, timeouts: 2 } } }), target('b')]);
  h.observe('a', 'timeout', 0, undefined);
  assert.equal(h.isHealthy('a'), true);
  h.observe('a', 'timeout', 0, undefined);
  assert.equal(h.isHealthy('a'), false, 'timeouts threshold');
  await waitFor(() => h.trialOpen('a'), 3000, 'trial open');
  assert.equal(h.claimTrial('a'), true);
  h.observe('a', 'ignored', 499, undefined);
  assert.equal(h.trialOpen('a'), true, 'an ignored trial frees it');
  assert.equal(h.claimTrial('a'), true);
  h.observe('a', 'tcp_failure', 0, undefined);
  assert.equal(h.isHealthy('a'), false);
  assert.equal(h.trialOpen('a'), false, 'a failed trial closes it');
  const t0 = Date.now();
  await waitFor(() => h.trialOpen('a'), 3000, 'trial open again');
  assert.ok(Date.now() - t0 >= 100, 'after another cool-down');
  assert.equal(h.claimTrial('a'), true);
  await waitFor(() => h.trialOpen('a'), 3000, 'stale claim given back');
  assert.equal(h.claimTrial('a'), true);
  h.observe('a', 'status', 200, undefined);
  assert.equal(h.isHealthy('a'), true);
  h.destroy();
  s.close();
});

test('R-PHC-1 a threshold of 0 never trips; successes 0 recovers after the cool-down without a trial', async () => {
  const { s } = svc();
  const h = s.register('/apisix/routes/p', 'c3', [target('a', { passive: { healthy: { successes: 0 }, unhealthy: { http_failures: 0, tcp_failures: 1 } } }), target('b')]);
  for (let i = 0; i < 20; i++) h.observe('a', 'status', 500, undefined);
  assert.equal(h.isHealthy('a'), true);
  h.observe('a', 'tcp_failure', 0, undefined);
  assert.equal(h.isHealthy('a'), false);
  await waitFor(() => h.isHealthy('a'), 3000, 'healthy again');
  assert.equal(h.trialOpen('a'), false);
  h.destroy();
  s.close();
});

test('R-PHC-1 with checks.active: passive failures mark it unhealthy, no trials, the active checker brings it back', async () => {
  const probe = await probeServer();
  const { s } = svc();
  const h = s.register('/apisix/routes/p', 'c4', [
    target('a', { active: { http_path: '/hc', healthy: { interval: 0.05, successes: 1 }, unhealthy: { interval: 0.05 } }, passive: { unhealthy: { http_failures: 2 } } }, probe.port),
    target('b'),
  ]);
  probe.status = 200;
  h.observe('a', 'status', 500, undefined);
  h.observe('a', 'status', 500, undefined);
  assert.equal(h.isHealthy('a'), false);
  assert.equal(h.trialOpen('a'), false);
  await waitFor(() => h.isHealthy('a'), 3000, 'active probe success');
  assert.equal(h.trialOpen('a'), false);
  h.destroy();
  s.close();
  await probe.close();
});

test('R-PHC-2 service level: a cool-down bumps the version, is listed with the seconds left, and ends on time', async () => {
  const { s } = svc();
  const h = s.register('/apisix/routes/p', 'c5', [target('a'), target('b')]);
  const v0 = h.version;
  assert.equal(h.isCooling('a'), false);
  h.observe('a', 'status', 429, 400);
  assert.equal(h.isCooling('a'), true);
  assert.ok(h.version > v0);
  const n = entry(s, 'a')!.nodes[0]!;
  assert.deepEqual([n.status, n.cooldown_left_s], ['cooling_down', 1]);
  h.observe('a', 'status', 429, 100); // shorter: no change
  const t0 = Date.now();
  await waitFor(() => !h.isCooling('a'), 3000, 'cool-down over');
  assert.ok(Date.now() - t0 >= 250, `ended after ${Date.now() - t0} ms`);
  assert.equal(entry(s, 'a'), undefined);
  h.destroy();
  s.close();
});
