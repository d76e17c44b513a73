import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin, KEY, VIEWER_KEY } from './harness.js';
import { compileAllowList } from '../../src/admin/auth.js';

test('R-ADM-2 allow_admin: peer outside the list gets 403 default error page before any key check', async (t) => {
  const h = await startAdmin({ allow_admin: ['10.0.0.0/8', '192.168.1.1'] });
  t.after(() => h.close());
  const r = await h.call('GET', '/apisix/admin/routes', undefined, { 'X-API-KEY': 'nope' });
  assert.equal(r.status, 403);
  assert.match(r.headers.get('content-type') ?? '', /text\/html/);
  assert.ok(r.text.includes('403 Forbidden'));
  assert.equal(r.headers.get('x-api-version'), 'v3');
});

test('R-ADM-2 allow_admin: explicit empty list denies everyone; default list admits 127.0.0.1', async (t) => {
  const h = await startAdmin({ allow_admin: [] });
  t.after(() => h.close());
  assert.equal((await h.call('GET', '/apisix/admin/routes')).status, 403);
  const allow = compileAllowList(undefined);
  assert.equal(allow('127.0.0.1'), true);
  assert.equal(allow('::ffff:127.0.0.9'), true);
  assert.equal(allow('127.0.1.1'), false);
  const v6 = compileAllowList(['::1', 'fd00::/8']);
  assert.equal(v6('::1'), true);
  assert.equal(v6('fd12::5'), true);
  assert.equal(v6('127.0.0.1'), false);
});

test('R-ADM-3 R-ADM-4 admin key from query, header, cookie; 401 bodies', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const missing = await h.call('GET', '/apisix/admin/routes', undefined, { 'X-API-KEY': '' });
  // an empty header is a key that matches nothing
  assert.equal(missing.status, 401);
  const none = await fetch(h.url + '/apisix/admin/routes');
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), { error_msg: 'failed to check token', description: 'missing apikey' });
  assert.equal(none.headers.get('x-api-version'), 'v3');
  const wrong = await fetch(h.url + '/apisix/admin/routes', { headers: { 'x-api-key': 'wrong' } });
  assert.equal(wrong.status, 401);
  assert.deepEqual(await wrong.json(), { error_msg: 'failed to check token', description: 'wrong apikey' });
  assert.equal((await fetch(`${h.url}/apisix/admin/routes?api_key=${KEY}`)).status, 200);
  assert.equal((await fetch(h.url + '/apisix/admin/routes', { headers: { cookie: `a=b; X-API-KEY=${KEY}` } })).status, 200);
  assert.equal((await fetch(h.url + '/apisix/admin/routes', { headers: { 'X-Api-Key': KEY } })).status, 200);
  // the query argument wins over the header
  const q = await fetch(`${h.url}/apisix/admin/routes?api_key=wrong`, { headers: { 'x-api-key': KEY } });
  assert.equal(q.status, 401);
});

test('R-ADM-4 R-ADM-5 viewer role may only GET', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const v = { 'X-API-KEY': VIEWER_KEY };
  assert.equal((await h.call('GET', '/apisix/admin/routes', undefined, v)).status, 200);
  assert.equal((await h.call('GET', '/apisix/admin/plugins/list', undefined, v)).status, 200);
  assert.equal((await h.call('GET', '/apisix/admin/plugins/key-auth', undefined, v)).status, 200);
  for (const m of ['PUT', 'POST', 'PATCH', 'DELETE']) {
    const r = await h.call(m, '/apisix/admin/routes/1', { uri: '/x', upstream: { nodes: { '127.0.0.1:1': 1 } } }, v);
    assert.equal(r.status, 401, m);
    assert.deepEqual(r.body, { error_msg: 'failed to check token', description: 'invalid method for role viewer' });
  }
  assert.equal(h.store.snapshot().size, 0);
});

test('R-GEN-19 admin_key_required false: no key needed', async (t) => {
  const h = await startAdmin({ admin_key_required: false });
  t.after(() => h.close());
  assert.equal((await fetch(h.url + '/apisix/admin/routes')).status, 200);
});

test('R-ADM-6 R-ADM-7 HEAD /apisix/admin answers 200 empty without key; X-API-VERSION everywhere', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r = await fetch(h.url + '/apisix/admin', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-api-version'), 'v3');
  assert.equal(await r.text(), '');
  for (const [m, p] of [['GET', '/apisix/admin/routes'], ['GET', '/apisix/admin/routes/none'], ['GET', '/apisix/admin/nope'], ['GET', '/other']]) {
    const x = await h.call(m!, p!);
    assert.equal(x.headers.get('x-api-version'), 'v3', p);
  }
  const other = await h.call('GET', '/other');
  assert.equal(other.status, 404);
});
