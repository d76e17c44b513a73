// R-PHC-1, R-PHC-3: a worker's copy of the primary's health state. A trial
// this worker claimed must not be opened again by a push the primary built
// before it handled the claim (two trials would run at once), even when the
// trial's outcome was already reported; the next offer is taken as usual.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteHealth } from '../../src/workers/remote-health.js';
import { healthGroupKey, type ToPrimary } from '../../src/workers/messages.js';
import type { HealthTarget } from '../../src/core/health-types.js';

const target = (name: string): HealthTarget => ({
  name, scheme: 'http', host: '127.0.0.1', port: 1,
  checks: { passive: { healthy: { successes: 1 }, unhealthy: { http_failures: 1 } } },
} as HealthTarget);

test('R-PHC-1 a stale push does not re-open a trial this worker claimed; a later offer does', () => {
  const sent: ToPrimary[] = [];
  const rh = createRemoteHealth((m) => void sent.push(m), false);
  const h = rh.register('/apisix/routes/r', 'c1', [target('b'), target('a')]);
  const key = healthGroupKey('/apisix/routes/r', 'c1');
  const push = (version: number, trial: string[]) => rh.update([{ key, version, unhealthy: ['b'], cooling: [], trial, wary: [] }]);

  push(1, ['b']);
  assert.equal(h.trialOpen('b'), true);
  assert.equal(h.claimTrial('b'), true);
  assert.equal(h.trialOpen('b'), false, 'claimed: closed here at once');
  assert.ok(sent.some((m) => m.sy === 'health.claim' && m.name === 'b'));

  // built before the primary handled the claim: still offers b
  push(2, ['b']);
  assert.equal(h.trialOpen('b'), false, 'a stale offer does not re-open the claimed trial');
  assert.equal(h.claimTrial('b'), false);

  // the trial's outcome is reported; another stale push still must not re-open it
  h.observe('b', 'status', 500);
  assert.ok(sent.some((m) => m.sy === 'health.obs' && m.name === 'b' && m.status === 500), 'the trial outcome goes to the primary');
  push(3, ['b']);
  assert.equal(h.trialOpen('b'), false);

  // the primary handled the claim: its push no longer offers b
  push(4, []);
  assert.equal(h.trialOpen('b'), false);
  // the next trial (after another cool-down) is offered and taken
  push(5, ['b']);
  assert.equal(h.trialOpen('b'), true, 'a new offer after the claim was seen opens the trial');
  assert.equal(h.claimTrial('b'), true);
  h.destroy();
  rh.close();
});

test('R-PHC-1 offers of trials this worker did not claim are kept as pushed', () => {
  const rh = createRemoteHealth(() => {}, false);
  const h = rh.register('/apisix/routes/r', 'c2', [target('b'), target('a')]);
  const key = healthGroupKey('/apisix/routes/r', 'c2');
  rh.update([{ key, version: 1, unhealthy: ['a', 'b'], trial: ['a', 'b'] }]);
  assert.equal(h.claimTrial('a'), true);
  rh.update([{ key, version: 2, unhealthy: ['a', 'b'], trial: ['a', 'b'] }]);
  assert.equal(h.trialOpen('a'), false);
  assert.equal(h.trialOpen('b'), true);
  h.destroy();
  rh.close();
});
