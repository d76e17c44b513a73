// Security checks as tests (issue 16): allow_admin is enforced on every
// Admin API and dashboard path and method, before anything else; the viewer
// role cannot write through any path or method. Paths are enumerated and
// also generated (fast-check), every request carries a valid key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startAdmin, dump, KEY, VIEWER_KEY } from './harness.js';
import { check } from '../fuzz/params.js';

const KINDS = ['routes', 'services', 'upstreams', 'consumers', 'global_rules', 'plugins', 'credentials', 'stream_routes', 'protos', 'secrets', 'plugin_metadata', 'plugin_configs', 'consumer_groups', 'ssls', 'schema'];
const known = [
  '/apisix/admin', '/apisix/admin/', '/ui', '/ui/', '/ui/index.html', '/ui/app.js', '/ui/../apisix/admin/routes',
  '/apisix/admin/plugins/list', '/apisix/admin/plugins/key-auth', '/apisix/admin/plugins/reload',
  '/apisix/admin/consumers/jack/credentials', '/apisix/admin/consumers/jack/credentials/c1',
  ...KINDS.flatMap((k) => [`/apisix/admin/${k}`, `/apisix/admin/${k}/1`, `/apisix/admin/${k}/1/x`]),
];
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'get', 'Post'];
const seg = fc.oneof(fc.constantFrom(...KINDS, 'jack', 'credentials', '1', '%2e%2e', '..', '', 'ui', 'apisix', 'admin', '%00', 'list'), fc.stringMatching(/^[a-z0-9_.%-]{0,8}$/));
// paths, some with a query `api_key` of `key` (R-ADM-3: the query key is read
// first, so a request carrying the admin key there is an admin request)
const genPathWith = (key: string) => fc.oneof(
  fc.constantFrom(...known),
  fc.array(seg, { maxLength: 5 }).map((s) => '/apisix/admin/' + s.join('/')),
  fc.array(seg, { maxLength: 3 }).map((s) => '/ui/' + s.join('/')),
  fc.tuple(fc.constantFrom(...known), fc.constantFrom('?api_key=' + key, '?x=1', '#f', '?', '//')).map(([p, q]) => p + q),
);
const genPath = genPathWith(KEY);

async function raw(url: string, method: string, p: string, key: string): Promise<number> {
  const r = await fetch(url + p, { method, redirect: 'manual', headers: { 'X-API-KEY': key }, body: ['GET', 'HEAD'].includes(method.toUpperCase()) ? undefined : '{"uri":"/x","upstream":{"nodes":{"127.0.0.1:1":1}},"username":"eve","plugins":{}}' });
  await r.arrayBuffer();
  return r.status;
}

test('issue 16 R-ADM-2: allow_admin is enforced on every Admin API and dashboard path and method (403 with a valid admin key)', async (t) => {
  const h = await startAdmin({ allow_admin: ['10.0.0.0/8'] });
  t.after(() => h.close());
  for (const p of known) for (const m of METHODS) {
    assert.equal(await raw(h.url, m, p, KEY), 403, `${m} ${p}`);
  }
  await check('security', 'allow-admin-every-path', 150, fc.asyncProperty(genPath, fc.constantFrom(...METHODS), async (p, m) => {
    assert.equal(await raw(h.url, m, p, KEY), 403, `${m} ${p}`);
  }), (m) => t.diagnostic(m));
  assert.equal(dump(h.store), '[]', 'nothing was written');
});

test('issue 16 R-ADM-5: the viewer role cannot write through any path or method', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await h.call('PUT', '/apisix/admin/consumers', { username: 'jack' });
  await h.call('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: { nodes: { '127.0.0.1:1980': 1 } } });
  const before = dump(h.store);
  for (const p of known) for (const m of ['PUT', 'POST', 'PATCH', 'DELETE']) {
    const st = await raw(h.url, m, p, VIEWER_KEY);
    assert.ok(st >= 300 && st !== 304, `viewer ${m} ${p} answered ${st}`);
  }
  await check('security', 'viewer-cannot-write', 200, fc.asyncProperty(genPathWith(VIEWER_KEY), fc.constantFrom('PUT', 'POST', 'PATCH', 'DELETE', 'put', 'Delete'), async (p, m) => {
    const st = await raw(h.url, m, p, VIEWER_KEY);
    assert.ok(st >= 300 && st !== 304, `viewer ${m} ${p} answered ${st}`);
  }), (m) => t.diagnostic(m));
  assert.equal(dump(h.store), before, 'the store is unchanged');
  // the viewer still reads
  assert.equal(await raw(h.url, 'GET', '/apisix/admin/routes/1', VIEWER_KEY), 200);
});
