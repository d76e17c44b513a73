// GET /apisix/admin/dashboard/stats and the /ui/ files (R-UI-1) against the
// real CLI, traffic through the gateway to mock upstreams.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { startFixture, VIEWER_KEY, ALICE, BOB, type Fixture } from './fixture.js';

async function stats(f: Fixture, key = ADMIN_KEY): Promise<any> {
  const r = await f.gw.admin('GET', '/apisix/admin/dashboard/stats', undefined, { 'X-API-KEY': key });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

const inst = (s: any, route: string, name: string) => s.instances.find((i: any) => i.route_id === route && i.name === name);

describe('R-UI-1 dashboard stats endpoint', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => f?.close());

  test('R-UI-1 routes with plugins and configured instances before any traffic', async () => {
    const s = await stats(f);
    assert.equal(s.role, 'admin');
    assert.deepEqual(s.routes.map((r: any) => r.id), ['chat', 'metered']);
    assert.deepEqual(s.routes[0].plugins, ['ai-proxy-multi', 'ai-rate-limiting', 'key-auth']);
    assert.equal(s.routes[0].status, 1);
    assert.equal(inst(s, 'chat', 'inst-a').requests, 0);
    assert.equal(inst(s, 'chat', 'inst-a').model, 'model-inst-a');
    assert.equal(inst(s, 'chat', 'inst-a').health, null);
    assert.ok(inst(s, 'metered', 'ai-proxy-openai'));
    assert.deepEqual(s.recent, []);
  });

  test('R-UI-1 traffic: requests, tokens, latency per instance, quotas used and remaining, last requests with attempts', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await f.chat('/v1/chat/completions', ALICE), 200);
    const s = await stats(f);
    const a = inst(s, 'chat', 'inst-a');
    assert.equal(a.source, 'recent');
    assert.equal(a.requests, 3);
    assert.deepEqual(a.tokens, { prompt: 69, completion: 24, total: 93 });
    assert.ok(a.latency_ms.p50 !== null && a.latency_ms.p50 >= 0);
    const q = s.quotas.find((x: any) => x.scope === 'route' && x.instance === 'inst-a');
    assert.equal(q.limit, 1000);
    assert.equal(q.used, 93);
    assert.equal(q.remaining, 907);
    assert.ok(q.reset_in_s >= 1 && q.reset_in_s <= 60);
    assert.equal(s.recent.length, 3);
    const last = s.recent[0];
    assert.equal(last.consumer, 'alice');
    assert.equal(last.instance, 'inst-a');
    assert.equal(last.status, 200);
    assert.equal(last.total_tokens, 31);
    assert.equal(last.attempts.length, 1);
    assert.equal(last.attempts[0].instance, 'inst-a');
    assert.equal(last.attempts[0].outcome, 'ok');
    assert.ok(s.requests_seen >= 3);
  });

  test('R-UI-1 a failed attempt falls back: both attempts shown, the failure counted for its instance', async () => {
    f.mockA.reply({ status: 500, json: { error: { message: 'boom' } } });
    try {
      assert.equal(await f.chat('/v1/chat/completions', ALICE), 200);
    } finally {
      f.mockA.reset();
    }
    const s = await stats(f);
    assert.deepEqual(s.recent[0].attempts.map((x: any) => `${x.instance}:${x.outcome}`), ['inst-a:500', 'inst-b:ok']);
    assert.equal(s.recent[0].instance, 'inst-b');
    assert.equal(inst(s, 'chat', 'inst-a').failures['500'], 1);
    assert.equal(inst(s, 'chat', 'inst-b').requests, 1);
  });

  test('R-UI-1 a consumer-level quota is shown for that consumer', async () => {
    assert.equal(await f.chat('/v1/chat/completions', BOB), 200);
    const s = await stats(f);
    const q = s.quotas.find((x: any) => x.scope === 'consumer' && x.consumer === 'bob' && x.instance === 'inst-a');
    assert.ok(q, JSON.stringify(s.quotas));
    assert.equal(q.limit, 500);
    assert.equal(q.used, 31);
    assert.equal(q.remaining, 469);
    // the route's quota was not charged for bob (R-RL-4: the consumer's replaces it)
    assert.equal(s.quotas.find((x: any) => x.scope === 'route' && x.instance === 'inst-a').used, 93);
  });

  test('R-UI-1 with the prometheus plugin the totals come from its series', async () => {
    for (let i = 0; i < 2; i++) assert.equal(await f.chat('/metered', ALICE), 200);
    const s = await stats(f);
    const m = inst(s, 'metered', 'ai-proxy-openai');
    assert.equal(m.source, 'prometheus');
    assert.equal(m.requests, 2);
    assert.deepEqual(m.tokens, { prompt: 46, completion: 16, total: 62 });
    assert.ok(m.latency_ms.p99 !== null);
  });

  test('R-UI-1 health of an actively checked instance follows its checker', async () => {
    await until(async () => inst(await stats(f), 'chat', 'inst-b').health === 'healthy', 10_000, 'inst-b healthy', 100);
    f.mockB.route('/health', { status: 500 });
    try {
      await until(async () => inst(await stats(f), 'chat', 'inst-b').health === 'unhealthy', 10_000, 'inst-b unhealthy', 100);
    } finally {
      f.mockB.reset();
    }
    await until(async () => inst(await stats(f), 'chat', 'inst-b').health === 'healthy', 10_000, 'inst-b healthy again', 100);
    assert.equal(inst(await stats(f), 'chat', 'inst-a').health, null, 'no checker: no health');
  });

  test('R-UI-1 viewer may read the stats but not change anything; no key or a wrong key is refused', async () => {
    const s = await stats(f, VIEWER_KEY);
    assert.equal(s.role, 'viewer');
    const w = await f.gw.admin('PATCH', '/apisix/admin/routes/chat', { status: 0 }, { 'X-API-KEY': VIEWER_KEY });
    assert.equal(w.status, 401);
    assert.equal(w.body.description, 'invalid method for role viewer');
    const none = await fetch(f.gw.adminUrl + '/apisix/admin/dashboard/stats');
    assert.equal(none.status, 401);
    assert.equal((await none.json()).description, 'missing apikey');
    const wrong = await f.gw.admin('GET', '/apisix/admin/dashboard/stats', undefined, { 'X-API-KEY': 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.description, 'wrong apikey');
    const other = await f.gw.admin('GET', '/apisix/admin/dashboard/nope');
    assert.equal(other.status, 404);
    assert.match(other.body.error_msg, /dashboard\/nope/);
  });

  test('R-UI-1 /ui/ serves the built page and bundle with a same-origin-only CSP', async () => {
    const page = await fetch(f.gw.adminUrl + '/ui/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="app.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'the page references nothing outside');
    const js = await fetch(f.gw.adminUrl + '/ui/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    const code = await js.text();
    assert.ok(code.includes('/apisix/admin/dashboard/stats'));
    const css = await fetch(f.gw.adminUrl + '/ui/app.css');
    assert.equal(css.status, 200);
    const redirect = await fetch(f.gw.adminUrl + '/ui', { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/ui/');
    const missing = await fetch(f.gw.adminUrl + '/ui/..%2fconfig.yaml');
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error_msg, /no dashboard file/);
    const post = await fetch(f.gw.adminUrl + '/ui/', { method: 'POST' });
    assert.equal(post.status, 405);
  });
});
