// R-PHC-1: a passive-only unhealthy instance gets one trial request at a
// time. A request that picked the open trial but was refused before its
// attempt was sent (a bad body, ai-rate-limiting running after
// ai-proxy-multi picked the instance) must not hold the trial: the next
// request is offered it at once, not after the 60 s claim lease.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../proxy/harness.js';
import { startMockLlm, chatCompletion } from '../helpers/mock-llm.js';
import { createHealthService } from '../../src/llm/health/index.js';
import { createMemoryState } from '../../src/state/memory.js';
import type { HealthHandle, HealthService } from '../../src/core/health-types.js';
import { memLog, until } from '../helpers/wait.js';

test('R-PHC-1 a trial picked by a request refused before sending (ai-rate-limiting 429, bad body) is offered to the next request at once', { timeout: 30_000 }, async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  let bDown = false;
  a.reply({ json: chatCompletion('m') });
  b.reply(() => (bDown ? { status: 500, json: { error: 'boom' } } : { json: chatCompletion('m') }));
  const state = createMemoryState();
  const real = createHealthService({ state, disabled: false, log: memLog(), trialDelayMs: 200 });
  const handles: HealthHandle[] = [];
  const health: HealthService = {
    register(parentKey, confHash, targets) {
      const hd = real.register(parentKey, confHash, targets);
      handles.push(hd);
      return hd;
    },
    report: () => real.report(),
    close: () => real.close(),
  };
  const h = await startHarness({}, { health });
  t.after(async () => { await h.close(); real.close(); await state.close(); await a.close(); await b.close(); });
  const inst = (name: string, url: string, priority: number, checks?: unknown): any => ({
    name, provider: 'openai', weight: 1, priority, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: url }, ...(checks ? { checks } : {}),
  });
  h.store.putSync('/apisix/consumers/alice', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key' }, 'ai-rate-limiting': { limit: 1, time_window: 60, rejected_code: 429, rejected_msg: 'token quota exceeded' } } });
  h.store.putSync('/apisix/consumers/bob', { username: 'bob', plugins: { 'key-auth': { key: 'bob-key' } } });
  h.store.putSync('/apisix/routes/trial', {
    uri: '/trial', methods: ['POST'],
    plugins: {
      'key-auth': {},
      // b first while it may be sent to; a takes the rest
      'ai-proxy-multi': { instances: [inst('b', b.url, 10, { passive: { healthy: { successes: 1 }, unhealthy: { http_failures: 1 } } }), inst('a', a.url, 0)] },
    },
  });
  const post = async (key: string, body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })) => {
    const res = await fetch(h.url + '/trial', { method: 'POST', headers: { 'content-type': 'application/json', apikey: key }, body });
    return { status: res.status, text: await res.text() };
  };
  const trialOpen = () => handles.some((hd) => hd.trialOpen('b'));

  // alice uses her whole quota on b while it is healthy
  let r = await post('alice-key');
  assert.equal(r.status, 200, r.text);
  assert.equal(b.count(), 1);
  // b fails once: unhealthy, skipped
  bDown = true;
  r = await post('bob-key');
  assert.equal(r.status, 500, r.text);
  assert.equal(b.count(), 2);
  r = await post('bob-key');
  assert.equal(r.status, 200, r.text);
  assert.equal(a.count(), 1, 'unhealthy b is skipped');
  assert.equal(b.count(), 2);
  bDown = false;

  // the trial opens after the cool-down; alice's request picks it and is refused by ai-rate-limiting
  await until(trialOpen, 5000, 'trial of b open');
  r = await post('alice-key');
  assert.equal(r.status, 429, r.text);
  assert.match(r.text, /token quota exceeded/);
  assert.equal(b.count(), 2, 'the refused request was not sent');
  assert.equal(trialOpen(), true, 'the refused request does not hold the trial');

  // a bad body picks the trial too and is refused with 400
  r = await post('bob-key', '{not json');
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /could not parse JSON request body/);
  assert.equal(trialOpen(), true, 'the 400 does not hold the trial');

  // the next request is the trial: sent to b at once, which is healthy again (successes: 1)
  r = await post('bob-key');
  assert.equal(r.status, 200, r.text);
  assert.equal(b.count(), 3, 'the trial went to b');
  assert.equal(a.count(), 1);
  assert.ok(handles.some((hd) => hd.isHealthy('b')), 'b healthy after its successful trial');
});
