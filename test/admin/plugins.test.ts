import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin } from './harness.js';
import { pluginList } from '../../src/plugins/registry.js';

test('R-ADM-50 plugins/list sorted by priority; subsystem', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r = await h.call('GET', '/apisix/admin/plugins/list');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, ['key-auth', 'ai-proxy-multi', 'ai-proxy', 'ai-rate-limiting', 'prometheus', 'http-logger', 'kafka-logger', 'file-logger']);
  assert.deepEqual((await h.call('GET', '/apisix/admin/plugins/list?subsystem=http')).body, r.body);
  assert.deepEqual((await h.call('GET', '/apisix/admin/plugins/list?subsystem=stream')).body, []);
  const bad = await h.call('GET', '/apisix/admin/plugins/list?subsystem=udp');
  assert.equal(bad.status, 400);
  assert.equal(bad.text, 'invalid subsystem passed');
  assert.equal((await fetch(h.url + '/apisix/admin/plugins/list')).status, 401);
});

test('R-ADM-51 plugin schema with injected $comment and _meta; consumer schema; errors', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  for (const p of pluginList) {
    const r = await h.call('GET', `/apisix/admin/plugins/${p.name}`);
    assert.equal(r.status, 200, p.name);
    assert.equal(r.body.$comment, 'this is a mark for our injected plugin schema');
    const meta = r.body.properties._meta;
    assert.equal(meta.type, 'object');
    assert.equal(meta.additionalProperties, false);
    assert.equal(meta.properties.disable.type, 'boolean');
    assert.deepEqual(meta.properties.error_response.oneOf, [{ type: 'string' }, { type: 'object' }]);
    assert.equal(meta.properties.priority.type, 'integer');
    assert.equal(meta.properties.filter.type, 'array');
    assert.equal(meta.properties.pre_function.type, 'string');
    // the plugin's own object is not modified
    assert.equal((p.schema as any).$comment, undefined);
  }
  const c = await h.call('GET', '/apisix/admin/plugins/key-auth?schema_type=consumer');
  assert.deepEqual(c.body, { type: 'object', properties: { key: { type: 'string' } }, required: ['key'], encrypt_fields: ['key'] });
  const none = await h.call('GET', '/apisix/admin/plugins/prometheus?schema_type=consumer');
  assert.equal(none.status, 400);
  assert.deepEqual(none.body, { error_msg: 'not found schema' });
  const unknown = await h.call('GET', '/apisix/admin/plugins/nope');
  assert.equal(unknown.status, 404);
  assert.deepEqual(unknown.body, { error_msg: 'plugin not found in subsystem http' });
  const sub = await h.call('GET', '/apisix/admin/plugins/key-auth?subsystem=udp');
  assert.equal(sub.status, 400);
  assert.deepEqual(sub.body, { error_msg: 'unsupported subsystem: udp' });
});

test('R-ADM-52 plugins?all=true', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r = await h.call('GET', '/apisix/admin/plugins?all=true');
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(), pluginList.map((p) => p.name).sort());
  assert.equal(r.body['key-auth'].priority, 2500);
  assert.equal(r.body['key-auth'].type, 'auth');
  assert.ok(r.body['key-auth'].consumer_schema);
  assert.equal(r.body['ai-proxy-multi'].schema.$comment, 'this is a mark for our injected plugin schema');
});

test('R-ADM-53 schema/validate/{resource}', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const ok = await h.call('POST', '/apisix/admin/schema/validate/routes', { uri: '/a', upstream_id: 'does-not-matter' });
  assert.equal(ok.status, 200);
  assert.equal(ok.text, '');
  const bad = await h.call('POST', '/apisix/admin/schema/validate/routes', { uri: '' , upstream_id: 1 });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body, { error_msg: 'property "uri" validation failed: string too short, expected at least 1, got 0' });
  const cons = await h.call('POST', '/apisix/admin/schema/validate/consumers', {});
  assert.deepEqual(cons.body, { error_msg: 'property "username" is required' });
  const unk = await h.call('POST', '/apisix/admin/schema/validate/nope', {});
  assert.equal(unk.status, 404);
  assert.deepEqual(unk.body, { error_msg: 'Unsupported resource type: nope' });
  for (const r of ['services', 'upstreams', 'credentials', 'global_rules']) {
    assert.equal((await h.call('POST', `/apisix/admin/schema/validate/${r}`, { zzz: 1 })).status, 400, r);
  }
  assert.equal(h.store.snapshot().size, 0);
});
