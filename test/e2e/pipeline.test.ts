// End-to-end pipeline tests through the real CLI (R-PIPE, R-RTE, R-KA, R-UPS, R-GEN-10).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startUpstream, req } from '../proxy/harness.js';

const up = await startUpstream();
const gw = await startGateway({ env: { SWITCHYARD_E2E_KEY: 'key-from-env' } });
after(async () => {
  await gw.stop();
  await up.close();
});
const admin = async (method: string, p: string, body?: unknown) => {
  const r = await gw.admin(method, p, body);
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${r.text}`);
  return r;
};
const P = (p: string) => gw.proxyUrl + p;

test('R-UPS-1 R-GEN-4 R-GEN-10 a route created through the Admin API is live when the Admin API answered', async () => {
  await admin('PUT', '/apisix/admin/routes/plain', { uri: '/plain/*', upstream: { type: 'roundrobin', nodes: { [up.hostPort]: 1 } } });
  const r = await req(P('/plain/x?q=1'), { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.url, '/plain/x?q=1');
  assert.equal(r.json.body, '{"a":1}');
  assert.match(r.headers.get('server')!, /^APISIX\/3\.16\.0 \(switchyard\/[^)]+\)$/);
});

test('R-RTE-7 unmatched path answers 404 JSON; R-PIPE-10 route without upstream answers 503 page', async () => {
  let r = await req(P('/no/such/route'));
  assert.equal(r.status, 404);
  assert.equal(r.text, '{"error_msg":"404 Route Not Found"}\n');
  assert.match(r.headers.get('server')!, /^APISIX\/3\.16\.0/);
  await admin('PUT', '/apisix/admin/routes/noup', { uri: '/noup', plugins: { 'key-auth': {} } });
  r = await req(P('/noup'), { headers: { apikey: 'whatever' } });
  assert.equal(r.status, 401, 'key-auth runs first');
});

test('R-PIPE-5 route + service merge through the Admin API (service upstream and hosts)', async () => {
  await admin('PUT', '/apisix/admin/services/svc1', { hosts: ['svc.example.com'], upstream: { nodes: { [up.hostPort]: 1 } } });
  await admin('PUT', '/apisix/admin/routes/withsvc', { uri: '/svc', service_id: 'svc1' });
  let r = await req(P('/svc'), { headers: { host: 'svc.example.com' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers.host, 'svc.example.com');
  r = await req(P('/svc'), { headers: { host: 'other.example.com' } });
  assert.equal(r.status, 404);
  // the route's hosts replace the service's
  await admin('PUT', '/apisix/admin/routes/withsvc', { uri: '/svc', service_id: 'svc1', hosts: ['route.example.com'] });
  r = await req(P('/svc'), { headers: { host: 'route.example.com' } });
  assert.equal(r.status, 200);
});

test('R-KA-5 R-KA-7 R-SCN-3 seed consumers johndoe/janedoe with key-auth credentials', async () => {
  await admin('PUT', '/apisix/admin/consumers', { username: 'johndoe' });
  await admin('PUT', '/apisix/admin/consumers/johndoe/credentials', { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'john-key' } } });
  await admin('PUT', '/apisix/admin/consumers', { username: 'janedoe' });
  await admin('PUT', '/apisix/admin/consumers/janedoe/credentials', { id: 'cred-jane-key-auth', plugins: { 'key-auth': { key: 'jane-key' } } });
  await admin('PUT', '/apisix/admin/routes/ka', { uri: '/ka', plugins: { 'key-auth': {} }, upstream: { nodes: { [up.hostPort]: 1 } } });

  let r = await req(P('/ka'));
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { message: 'Missing API key in request' });
  assert.equal(r.headers.get('www-authenticate'), 'apikey realm="key"');
  r = await req(P('/ka'), { headers: { apikey: 'wrong' } });
  assert.deepEqual(r.json, { message: 'Invalid API key in request' });

  r = await req(P('/ka'), { headers: { apikey: 'john-key' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'johndoe');
  assert.equal(r.json.headers['x-credential-identifier'], 'cred-john-key-auth');
  r = await req(P('/ka?apikey=jane-key'));
  assert.equal(r.json.headers['x-consumer-username'], 'janedoe');
  assert.equal(r.json.headers['x-credential-identifier'], 'cred-jane-key-auth');

  // deleting the credential takes effect for the next request (R-GEN-10)
  await admin('DELETE', '/apisix/admin/consumers/janedoe/credentials/cred-jane-key-auth');
  r = await req(P('/ka?apikey=jane-key'));
  assert.equal(r.status, 401);
});

test('R-KA-10 R-PIPE-7 key-auth in a global rule: 401 even when no route matches', async () => {
  await admin('PUT', '/apisix/admin/global_rules/1', { plugins: { 'key-auth': {} } });
  try {
    let r = await req(P('/unmatched'));
    assert.equal(r.status, 401);
    r = await req(P('/unmatched'), { headers: { apikey: 'john-key' } });
    assert.equal(r.status, 404);
    assert.equal(r.text, '{"error_msg":"404 Route Not Found"}\n');
    r = await req(P('/plain/y'), { headers: { apikey: 'john-key' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.headers['x-consumer-username'], 'johndoe');
  } finally {
    await admin('DELETE', '/apisix/admin/global_rules/1');
  }
});

test('R-GEN-10 in-flight requests finish with the configuration they started with', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream(async (_q, res) => {
    await gate;
    res.end('old-upstream');
  });
  const fresh = await startUpstream((_q, res) => res.end('new-upstream'));
  try {
    await admin('PUT', '/apisix/admin/routes/swap', { uri: '/swap', upstream: { nodes: { [slow.hostPort]: 1 } } });
    const inflight = req(P('/swap'));
    for (let i = 0; i < 200 && slow.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(slow.requests.length, 1);
    await admin('PUT', '/apisix/admin/routes/swap', { uri: '/swap', upstream: { nodes: { [fresh.hostPort]: 1 } } });
    assert.equal((await req(P('/swap'))).text, 'new-upstream');
    release();
    const old = await inflight;
    assert.equal(old.status, 200);
    assert.equal(old.text, 'old-upstream');
  } finally {
    release();
    await slow.close();
    await fresh.close();
  }
});

test('R-RTE-2 R-RTE-4 ordering and methods through the Admin API', async () => {
  const a = await startUpstream((_q, res) => res.end('A'));
  const b = await startUpstream((_q, res) => res.end('B'));
  try {
    await admin('PUT', '/apisix/admin/routes/ord1', { uri: '/blog/foo/*', upstream: { nodes: { [a.hostPort]: 1 } } });
    await admin('PUT', '/apisix/admin/routes/ord2', { uri: '/blog/foo/a/*', upstream: { nodes: { [b.hostPort]: 1 } } });
    await admin('PUT', '/apisix/admin/routes/ord3', { uri: '/blog/foo/bar', methods: ['POST'], upstream: { nodes: { [b.hostPort]: 1 } } });
    assert.equal((await req(P('/blog/foo/a/b/c'))).text, 'B');
    assert.equal((await req(P('/blog/foo/gloo'))).text, 'A');
    assert.equal((await req(P('/blog/bar'))).status, 404);
    assert.equal((await req(P('/blog/foo/bar'), { method: 'POST' })).text, 'B');
    assert.equal((await req(P('/blog/foo/bar'))).text, 'A', 'GET falls through to the prefix route');
  } finally {
    await a.close();
    await b.close();
  }
});

test('R-SEC-1 a Credential key given as $env:// reference is resolved by the gateway process', async () => {
  await admin('PUT', '/apisix/admin/consumers', { username: 'envuser' });
  await admin('PUT', '/apisix/admin/consumers/envuser/credentials/env-cred', { plugins: { 'key-auth': { key: '$env://SWITCHYARD_E2E_KEY' } } });
  const r = await req(P('/ka'), { headers: { apikey: 'key-from-env' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-consumer-username'], 'envuser');
  const stored = await gw.admin('GET', '/apisix/admin/consumers/envuser/credentials/env-cred');
  assert.equal(stored.body.value.plugins['key-auth'].key, '$env://SWITCHYARD_E2E_KEY', 'R-SEC-4 stored as written');
});
