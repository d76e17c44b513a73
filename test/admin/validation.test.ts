import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin, dump } from './harness.js';
import { validateResource } from '../../src/admin/validate.js';

const up = { nodes: { '127.0.0.1:1980': 1 } };

async function expect400(h: Awaited<ReturnType<typeof startAdmin>>, method: string, p: string, body: unknown, msg: string, status = 400) {
  const r = await h.call(method, p, body);
  assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)} -> ${r.text}`);
  assert.deepEqual(r.body, { error_msg: msg });
}

test('R-RES-1 R-RES-2 route checks in order, exact texts', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const P = '/apisix/admin/routes/1';
  await expect400(h, 'PUT', P, { uri: '/a', host: 'a.com', hosts: ['b.com'], upstream: up }, 'only one of host or hosts is allowed');
  await expect400(h, 'PUT', P, { uri: '/a', remote_addr: '1.1.1.1', remote_addrs: ['1.1.1.1'], upstream: up }, 'only one of remote_addr or remote_addrs is allowed');
  await expect400(h, 'PUT', P, { uri: '', upstream: up }, 'invalid configuration: property "uri" validation failed: string too short, expected at least 1, got 0');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, foo: 1 }, 'invalid configuration: additional properties forbidden, found foo');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, methods: ['GET', 'FETCH'] }, 'invalid configuration: property "methods" validation failed: failed to validate item 2: matches none of the enum values');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, priority: 'high' }, 'invalid configuration: property "priority" validation failed: wrong type: expected integer, got string');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, status: 2 }, 'invalid configuration: property "status" validation failed: matches none of the enum values');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, timeout: { connect: 1, send: 1 } }, 'invalid configuration: property "timeout" validation failed: property "read" is required');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, timeout: { connect: 0, send: 1, read: 1 } }, 'invalid configuration: property "timeout" validation failed: property "connect" validation failed: expected 0 to be greater than 0');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, labels: { k: 'a b' } }, 'invalid configuration: property "labels" validation failed: failed to validate k (matching ".*"): failed to match pattern "^\\\\S+$" with "a b"');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, enable_websocket: 'yes' }, 'invalid configuration: property "enable_websocket" validation failed: wrong type: expected boolean, got string');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, id: 'bad id' }, 'wrong route id');
  await expect400(h, 'PUT', '/apisix/admin/routes', { id: 'bad id', uri: '/a', upstream: up }, 'invalid configuration: property "id" validation failed: object matches none of the required');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: { nodes: { 'a:1': -1 } } }, 'invalid configuration: property "upstream" validation failed: property "nodes" validation failed: object matches none of the required');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: { type: 'roundrobin' } }, 'invalid configuration: property "upstream" validation failed: value should match only one schema, but matches none');
  await expect400(h, 'PUT', P, { uri: '/a', upstream: { nodes: {}, type: 'chash' } }, 'missing key');
  await expect400(h, 'PUT', P, { uri: '/a', upstream_id: 'u404' }, 'failed to fetch upstream info by upstream id [u404], response code: 404');
  await expect400(h, 'PUT', P, { uri: '/a', service_id: 404 }, 'failed to fetch service info by service id [404], response code: 404');
  await expect400(h, 'PUT', P, { uri: '/a', upstream_id: 'u404', service_id: 's404' }, 'failed to fetch upstream info by upstream id [u404], response code: 404');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { nope: {} } }, 'unknown plugin [nope]');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { 'key-auth': 'x' } }, 'invalid plugin conf "x" for plugin [key-auth]');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { 'key-auth': [] } }, 'invalid plugin conf [] for plugin [key-auth]');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { 'key-auth': { hide_credentials: 'yes' } } }, 'failed to check the configuration of plugin key-auth err: property "hide_credentials" validation failed: wrong type: expected boolean, got string');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { 'key-auth': { _meta: { disable: 1 } } } }, 'failed to check the configuration of plugin key-auth err: property "_meta" validation failed: property "disable" validation failed: wrong type: expected boolean, got number');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { 'key-auth': { _meta: { foo: 1 } } } }, 'failed to check the configuration of plugin key-auth err: property "_meta" validation failed: additional properties forbidden, found foo');
  await expect400(h, 'PUT', P, { uri: '/a', plugins: { 'key-auth': { _meta: { error_response: 1 } } } }, 'failed to check the configuration of plugin key-auth err: property "_meta" validation failed: property "error_response" validation failed: value should match only one schema, but matches none');
  await expect400(h, 'PUT', P, {
    uri: '/a',
    plugins: { 'ai-proxy-multi': { instances: [{ name: 'i', provider: 'openai-compatible', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: 'not a url' } }] } },
  }, 'failed to check the configuration of plugin ai-proxy-multi err: invalid endpoint');
  const filterErr = await h.call('PUT', P, { uri: '/a', plugins: { 'key-auth': { _meta: { filter: [['arg_x', 'bogus-op', 1]] } } } });
  assert.equal(filterErr.status, 400);
  assert.ok(filterErr.body.error_msg.startsWith("failed to validate the 'vars' expression: "), filterErr.text);
  await expect400(h, 'PUT', P, { uri: '/a', upstream: up, vars: 'x' }, 'invalid configuration: property "vars" validation failed: wrong type: expected array, got string');
  const varsErr = await h.call('PUT', P, { uri: '/a', upstream: up, vars: [['arg_x', 'bogus-op', 1]] });
  assert.equal(varsErr.status, 400);
  assert.ok(varsErr.body.error_msg.startsWith("failed to validate the 'vars' expression: "), varsErr.text);
  assert.equal(h.store.snapshot().size, 0);
  // valid forms: uris, hosts, remote_addrs, _meta
  const ok = await h.call('PUT', P, {
    uris: ['/a', '/b'], hosts: ['*.example.com', 'a.b'], remote_addrs: ['10.0.0.0/8', '::1'], methods: ['GET'],
    vars: [['arg_x', '==', '1']], timeout: { connect: 1, send: 2, read: 3.5 },
    plugins: { 'key-auth': { _meta: { disable: false, priority: 10, error_response: { m: 1 }, filter: [['arg_y', '==', '2']] } } },
  });
  assert.equal(ok.status, 201, ok.text);
});

test('R-RES-3 unsupported APISIX properties', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  for (const prop of ['filter_func', 'script', 'script_id', 'plugin_config_id']) {
    await expect400(h, 'PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: up, [prop]: 'x' }, `invalid configuration: property "${prop}" is not supported by switchyard`);
  }
  await expect400(h, 'PUT', '/apisix/admin/services/1', { upstream: up, script: 'x' }, 'invalid configuration: property "script" is not supported by switchyard');
  await expect400(h, 'PUT', '/apisix/admin/routes/1', { uri: '/a', plugins: { 'key-auth': { _meta: { pre_function: 'return' } } } }, 'invalid configuration: property "pre_function" is not supported by switchyard');
  await h.call('PUT', '/apisix/admin/consumers', { username: 'jack' });
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack/credentials/c', { plugins: { 'key-auth': { key: 'k', _meta: { pre_function: 'x' } } } }, 'invalid configuration: property "pre_function" is not supported by switchyard');
});

test('R-RES-4 R-RES-5 services: schema, references, delete in use, force', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await expect400(h, 'PUT', '/apisix/admin/services/s', { upstream: up, uri: '/a' }, 'invalid configuration: additional properties forbidden, found uri');
  await expect400(h, 'PUT', '/apisix/admin/services/s', { hosts: [] }, 'invalid configuration: property "hosts" validation failed: expect array to have at least 1 items');
  await expect400(h, 'PUT', '/apisix/admin/services/s', { upstream_id: 'nope' }, 'failed to fetch upstream info by upstream id [nope], response code: 404');
  await expect400(h, 'PUT', '/apisix/admin/services/s', { plugins: { nope: {} } }, 'unknown plugin [nope]');
  assert.equal((await h.call('PUT', '/apisix/admin/services/s', { upstream: up, name: 'svc', hosts: ['a.com'] })).status, 201);
  assert.equal((await h.call('PUT', '/apisix/admin/routes/r', { uri: '/a', service_id: 's' })).status, 201);
  await expect400(h, 'DELETE', '/apisix/admin/services/s', undefined, 'can not delete this service directly, route [r] is still using it now');
  await expect400(h, 'DELETE', '/apisix/admin/services/s?force=yes', undefined, 'can not delete this service directly, route [r] is still using it now');
  const forced = await h.call('DELETE', '/apisix/admin/services/s?force=true');
  assert.equal(forced.status, 200);
  assert.deepEqual(forced.body, { deleted: '1', key: '/apisix/services/s' });
});

test('R-RES-9 upstreams: schema, delete in use', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await expect400(h, 'PUT', '/apisix/admin/upstreams/u', { nodes: up.nodes, scheme: 'ftp' }, 'invalid configuration: property "scheme" validation failed: matches none of the enum values');
  await expect400(h, 'PUT', '/apisix/admin/upstreams/u', { nodes: up.nodes, retries: -1 }, 'invalid configuration: property "retries" validation failed: expected -1 to be at least 0');
  await expect400(h, 'PUT', '/apisix/admin/upstreams/u', { nodes: [{ host: '127.0.0.1', port: 70000, weight: 1 }] }, 'invalid configuration: property "nodes" validation failed: object matches none of the required');
  const ok = await h.call('PUT', '/apisix/admin/upstreams/u', {
    nodes: [{ host: '127.0.0.1', port: 80, weight: 1, priority: 1 }], type: 'chash', hash_on: 'header', key: 'x-user',
    scheme: 'https', pass_host: 'rewrite', upstream_host: 'a.com', timeout: { connect: 1, send: 1, read: 1 },
    retries: 1, retry_timeout: 0, checks: {}, keepalive_pool: { size: 10 }, name: 'u', desc: 'd', labels: { a: 'b' },
  });
  assert.equal(ok.status, 201, ok.text);
  assert.equal((await h.call('PUT', '/apisix/admin/routes/r', { uri: '/a', upstream_id: 'u' })).status, 201);
  await expect400(h, 'DELETE', '/apisix/admin/upstreams/u', undefined, 'can not delete this upstream, route [r] is still using it now');
  await h.call('DELETE', '/apisix/admin/routes/r');
  assert.equal((await h.call('PUT', '/apisix/admin/services/s', { upstream_id: 'u' })).status, 201);
  await expect400(h, 'DELETE', '/apisix/admin/upstreams/u', undefined, 'can not delete this upstream, service [s] is still using it now');
  assert.equal((await h.call('DELETE', '/apisix/admin/upstreams/u?force=true')).status, 200);
});

test('R-RES-6 consumers: username, plugins with consumer schema, group_id, cascade delete', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await expect400(h, 'PUT', '/apisix/admin/consumers', { plugins: {} }, 'invalid configuration: property "username" is required');
  await expect400(h, 'PUT', '/apisix/admin/consumers', { username: 'a b' }, 'invalid configuration: property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\\\-]+$" with "a b"');
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack', { username: 'john' }, 'wrong username');
  await expect400(h, 'PUT', '/apisix/admin/consumers', { username: 'jack', plugins: { 'key-auth': {} } }, 'invalid plugins configuration: failed to check the configuration of plugin key-auth err: property "key" is required');
  await expect400(h, 'PUT', '/apisix/admin/consumers', { username: 'jack', plugins: { nope: {} } }, 'invalid plugins configuration: unknown plugin [nope]');
  await expect400(h, 'PUT', '/apisix/admin/consumers', { username: 'jack', group_id: 'g1' }, 'failed to fetch consumer group info by consumer group id [g1], response code: 404');
  await expect400(h, 'PUT', '/apisix/admin/consumers', { username: 'jack', id: 'x' }, 'invalid configuration: additional properties forbidden, found id');
  const c = await h.call('PUT', '/apisix/admin/consumers', { username: 'jack', desc: 'd', labels: { team: 'a' }, plugins: { 'key-auth': { key: 'k0' } } });
  assert.equal(c.status, 201);
  assert.equal(c.body.key, '/apisix/consumers/jack');
  assert.equal(c.body.value.id, undefined);
  assert.equal((await h.call('PUT', '/apisix/admin/consumers/jack', { username: 'jack' })).status, 200);
  await h.call('PUT', '/apisix/admin/consumers/jack/credentials/c1', { plugins: { 'key-auth': { key: 'k1' } } });
  await h.call('PUT', '/apisix/admin/consumers/jack/credentials/c2', { plugins: { 'key-auth': { key: 'k2' } } });
  await h.call('PUT', '/apisix/admin/consumers', { username: 'jane' });
  const list = await h.call('GET', '/apisix/admin/consumers');
  assert.deepEqual(list.body.list.map((i: any) => i.key), ['/apisix/consumers/jack', '/apisix/consumers/jane']);
  assert.equal(list.body.total, 2);
  const del = await h.call('DELETE', '/apisix/admin/consumers/jack');
  assert.deepEqual(del.body, { deleted: '1', key: '/apisix/consumers/jack' });
  assert.deepEqual([...h.store.snapshot().keys()], ['/apisix/consumers/jane']);
  const gone = await h.call('GET', '/apisix/admin/consumers/jack/credentials');
  assert.equal(gone.status, 404);
  assert.deepEqual(gone.body, { error_msg: 'Key not found', message: 'Key not found' });
});

test('R-RES-7 credentials: seed form, consumer must exist, one auth plugin', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack/credentials', { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'k' } } }, 'consumer not found', 404);
  await h.call('PUT', '/apisix/admin/consumers', { username: 'jack' });
  const c = await h.call('PUT', '/apisix/admin/consumers/jack/credentials', { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'john-key' } } });
  assert.equal(c.status, 201);
  assert.equal(c.body.key, '/apisix/consumers/jack/credentials/cred-john-key-auth');
  assert.equal(c.body.value.id, 'cred-john-key-auth');
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack/credentials/c2', { plugins: { 'key-auth': { key: 'a' }, prometheus: {} } }, 'invalid configuration: property "plugins" validation failed: expect object to have at most 1 properties');
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack/credentials/c2', { plugins: { 'key-auth': {} } }, 'invalid plugins configuration: failed to check the configuration of plugin key-auth err: property "key" is required');
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack/credentials/c2', { plugins: { prometheus: {} } }, 'only supports auth type plugins in consumer credential');
  await expect400(h, 'PUT', '/apisix/admin/consumers/jack/credentials/c2', { plugins: {}, username: 'x' }, 'invalid configuration: additional properties forbidden, found username');
  const list = await h.call('GET', '/apisix/admin/consumers/jack/credentials');
  assert.equal(list.body.total, 1);
  assert.equal(list.body.list[0].key, '/apisix/consumers/jack/credentials/cred-john-key-auth');
  const one = await h.call('GET', '/apisix/admin/consumers/jack/credentials/cred-john-key-auth');
  assert.equal(one.status, 200);
  assert.equal(one.body.value.plugins['key-auth'].key, 'john-key');
  const del = await h.call('DELETE', '/apisix/admin/consumers/jack/credentials/cred-john-key-auth');
  assert.deepEqual(del.body, { deleted: '1', key: '/apisix/consumers/jack/credentials/cred-john-key-auth' });
});

test('R-RES-8 global rules: plugins required, duplicate plugin rejected', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await expect400(h, 'PUT', '/apisix/admin/global_rules/1', {}, 'invalid configuration: property "plugins" is required');
  await expect400(h, 'PUT', '/apisix/admin/global_rules/1', { plugins: { nope: {} } }, 'unknown plugin [nope]');
  assert.equal((await h.call('PUT', '/apisix/admin/global_rules/1', { plugins: { prometheus: {} } })).status, 201);
  assert.equal((await h.call('PUT', '/apisix/admin/global_rules/1', { plugins: { prometheus: {} } })).status, 200);
  await expect400(h, 'PUT', '/apisix/admin/global_rules/2', { plugins: { 'key-auth': {}, prometheus: {} } }, "plugin 'prometheus' already exists in global rule with id '1'");
  assert.equal((await h.call('PUT', '/apisix/admin/global_rules/2', { plugins: { 'key-auth': {} } })).status, 201);
});

test('R-DECL-14 R-RES-2 validateResource is usable without HTTP (sync)', () => {
  const store = new Map<string, any>([['/apisix/upstreams/u1', { nodes: {} }]]);
  const lookup = (k: string) => store.get(k);
  assert.deepEqual(validateResource('routes', 'r', { id: 'r', uri: '/a', upstream_id: 'u1' }, lookup), { ok: true, value: { id: 'r', uri: '/a', upstream_id: 'u1' } });
  assert.deepEqual(validateResource('routes', 'r', { id: 'r', uri: '/a', upstream_id: 'u2' }, lookup), {
    ok: false, status: 400, error_msg: 'failed to fetch upstream info by upstream id [u2], response code: 404',
  });
  const r = validateResource('consumers', undefined, { username: 'a', plugins: { 'key-auth': {} } }, lookup);
  assert.equal(r.ok, false);
  const g = validateResource('global_rules', '2', { plugins: { prometheus: {} } }, lookup, {
    list: () => [{ key: '/apisix/global_rules/1', value: { plugins: { prometheus: {} } } }],
  });
  assert.deepEqual(g, { ok: false, status: 400, error_msg: "plugin 'prometheus' already exists in global rule with id '1'" });
});

test('R-GEN-11 rejected writes leave the store unchanged', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await h.call('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: up, desc: 'keep' });
  const before = dump(h.store);
  await h.call('PUT', '/apisix/admin/routes/1', { uri: '/a', plugins: { nope: {} } });
  await h.call('PUT', '/apisix/admin/routes/1', { uri: 5 });
  assert.equal(dump(h.store), before);
  assert.equal((await h.call('GET', '/apisix/admin/routes/1')).body.value.desc, 'keep');
});
