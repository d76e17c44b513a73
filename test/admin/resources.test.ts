import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin, dump } from './harness.js';

const up = { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' };

test('R-ADM-16 R-ADM-20 PUT with id in body (seed form) and in URL: 201 then 200, shapes', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r1 = await h.call('PUT', '/apisix/admin/routes', { id: 'ai-proxy-multi-route', uri: '/anything', methods: ['POST'], upstream: up });
  assert.equal(r1.status, 201);
  assert.equal(r1.body.key, '/apisix/routes/ai-proxy-multi-route');
  assert.equal(r1.body.value.id, 'ai-proxy-multi-route');
  assert.equal(r1.body.value.uri, '/anything');
  assert.match(r1.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(Object.keys(r1.body).sort(), ['key', 'value']);
  const r2 = await h.call('PUT', '/apisix/admin/routes/ai-proxy-multi-route', { uri: '/other', upstream: up });
  assert.equal(r2.status, 200);
  assert.equal(r2.body.value.uri, '/other');
  assert.equal(r2.body.value.id, 'ai-proxy-multi-route');
  // integer id in the body is stored as written; URL id is a string
  const r3 = await h.call('PUT', '/apisix/admin/routes', { id: 7, uri: '/seven', upstream: up });
  assert.equal(r3.status, 201);
  assert.equal(r3.body.key, '/apisix/routes/7');
  assert.equal(r3.body.value.id, 7);
  const r4 = await h.call('PUT', '/apisix/admin/routes/7', { id: '7', uri: '/seven', upstream: up });
  assert.equal(r4.status, 200);
  assert.equal(r4.body.value.id, '7');
  const r5 = await h.call('PUT', '/apisix/admin/routes/7', { id: 7, uri: '/seven', upstream: up });
  assert.equal(r5.status, 200, 'integer 7 and "7" are the same id (R-ADM-15)');
});

test('R-ADM-16 id errors: missing, wrong, POST with id, no body', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const cases: Array<[string, string, unknown, string]> = [
    ['PUT', '/apisix/admin/routes', { uri: '/a', upstream: up }, 'missing route id'],
    ['PUT', '/apisix/admin/services', { upstream: up }, 'missing service id'],
    ['PUT', '/apisix/admin/upstreams', up, 'missing upstream id'],
    ['PUT', '/apisix/admin/global_rules', { plugins: {} }, 'missing global rule id'],
    ['PUT', '/apisix/admin/routes/1', { id: '2', uri: '/a', upstream: up }, 'wrong route id'],
    ['PUT', '/apisix/admin/services/1', { id: 2 }, 'wrong service id'],
    ['POST', '/apisix/admin/routes', { id: '1', uri: '/a', upstream: up }, 'wrong route id, do not need it'],
    ['POST', '/apisix/admin/routes/1', { uri: '/a', upstream: up }, 'wrong route id, do not need it'],
    ['POST', '/apisix/admin/upstreams', { id: 'u', ...up }, 'wrong upstream id, do not need it'],
    ['PUT', '/apisix/admin/routes/1', undefined, 'missing configurations'],
    ['POST', '/apisix/admin/routes', undefined, 'missing configurations'],
    ['PUT', '/apisix/admin/consumers', undefined, 'missing configurations'],
  ];
  for (const [m, p, b, msg] of cases) {
    const r = await h.call(m, p, b);
    assert.equal(r.status, 400, `${m} ${p}`);
    assert.deepEqual(r.body, { error_msg: msg }, `${m} ${p}`);
    assert.ok(r.text.endsWith('}\n'), 'R-GEN-1 JSON body followed by a newline');
  }
  const cred = await h.call('PUT', '/apisix/admin/consumers', { username: 'jack' });
  assert.equal(cred.status, 201);
  const c = await h.call('PUT', '/apisix/admin/consumers/jack/credentials', { plugins: { 'key-auth': { key: 'k' } } });
  assert.deepEqual(c.body, { error_msg: 'missing credential id' });
  assert.equal(h.store.snapshot().size, 1);
});

test('R-ADM-17 POST generates 20-digit increasing ids', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const ids: string[] = [];
  for (const p of ['/apisix/admin/routes', '/apisix/admin/services', '/apisix/admin/upstreams', '/apisix/admin/routes']) {
    const body = p.endsWith('routes') ? { uri: '/x', upstream: up } : p.endsWith('services') ? { upstream: up } : up;
    const r = await h.call('POST', p, body);
    assert.equal(r.status, 201);
    assert.match(r.body.value.id, /^\d{20}$/);
    assert.equal(r.body.key, `${p.replace('/admin', '')}/${r.body.value.id}`);
    ids.push(r.body.value.id);
  }
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!);
});

test('R-ADM-14 timestamps: added, kept on replace, refreshed, forbidden on PUT/POST', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r1 = await h.call('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: up });
  const ct = r1.body.value.create_time;
  assert.ok(Number.isInteger(ct) && Math.abs(ct - Date.now() / 1000) < 5);
  assert.ok(Number.isInteger(r1.body.value.update_time));
  // replacing keeps create_time
  await h.store.put('/apisix/routes/1', { ...r1.body.value, create_time: 1000, update_time: 1000 });
  const r2 = await h.call('PUT', '/apisix/admin/routes/1', { uri: '/b', upstream: up });
  assert.equal(r2.body.value.create_time, 1000);
  assert.ok(r2.body.value.update_time > 1000);
  // PATCH refreshes update_time unless it sets it
  await h.store.put('/apisix/routes/1', { ...r2.body.value, update_time: 1000 });
  const p1 = await h.call('PATCH', '/apisix/admin/routes/1', { desc: 'd' });
  assert.ok(p1.body.value.update_time > 1000);
  const p2 = await h.call('PATCH', '/apisix/admin/routes/1', { update_time: 1234, create_time: 5 });
  assert.equal(p2.body.value.update_time, 1234);
  assert.equal(p2.body.value.create_time, 5);
  const before = dump(h.store);
  const forbidden: Array<[unknown, string]> = [
    [{ uri: '/a', upstream: up, create_time: 1 }, 'the property is forbidden:  create_time'],
    [{ uri: '/a', upstream: up, update_time: 1 }, 'the property is forbidden:  update_time'],
    [{ uri: '/a', upstream: { ...up, create_time: 1 } }, 'the property is forbidden:  upstream.create_time'],
    [{ uri: '/a', upstream: { ...up, update_time: 1 } }, 'the property is forbidden:  upstream.update_time'],
    [{ uri: '/a', plugins: { create_time: {} } }, 'the property is forbidden:  plugins.create_time'],
  ];
  for (const [b, msg] of forbidden) {
    const r = await h.call('PUT', '/apisix/admin/routes/1', b);
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error_msg: msg });
    const p = await h.call('POST', '/apisix/admin/routes', b);
    assert.deepEqual(p.body, { error_msg: msg });
  }
  assert.equal(dump(h.store), before);
  // schema defaults are not written into the stored value
  const r3 = await h.call('PUT', '/apisix/admin/routes/9', { uri: '/a', upstream: up });
  assert.equal(r3.body.value.priority, undefined);
  assert.equal(r3.body.value.status, undefined);
  assert.equal(r3.body.value.upstream.hash_on, undefined);
});

test('R-ADM-20 R-ADM-21 R-ADM-22 R-ADM-23 GET one / list / revisions / DELETE / 404', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  for (const k of ['/apisix/admin/routes', '/apisix/admin/services', '/apisix/admin/upstreams', '/apisix/admin/consumers', '/apisix/admin/global_rules']) {
    const r = await h.call('GET', k);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { total: 0, list: [] });
  }
  await h.call('PUT', '/apisix/admin/routes/b', { uri: '/b', upstream: up });
  await h.call('PUT', '/apisix/admin/routes/a', { uri: '/a', upstream: up });
  const one = await h.call('GET', '/apisix/admin/routes/a');
  assert.equal(one.status, 200);
  assert.deepEqual(Object.keys(one.body).sort(), ['createdIndex', 'key', 'modifiedIndex', 'value']);
  assert.equal(one.body.key, '/apisix/routes/a');
  assert.ok(one.body.createdIndex > 0 && one.body.modifiedIndex >= one.body.createdIndex);
  const list = await h.call('GET', '/apisix/admin/routes');
  assert.equal(list.body.total, 2);
  assert.deepEqual(list.body.list.map((i: any) => i.key), ['/apisix/routes/a', '/apisix/routes/b']);
  assert.ok(list.body.list[0].createdIndex > list.body.list[1].createdIndex);
  const m0 = one.body.modifiedIndex;
  await h.call('PATCH', '/apisix/admin/routes/a', { desc: 'x' });
  const again = await h.call('GET', '/apisix/admin/routes/a');
  assert.ok(again.body.modifiedIndex > m0);
  assert.equal(again.body.createdIndex, one.body.createdIndex);
  const missing = await h.call('GET', '/apisix/admin/routes/zzz');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { error_msg: 'Key not found', message: 'Key not found' });
  const del = await h.call('DELETE', '/apisix/admin/routes/a');
  assert.equal(del.status, 200);
  assert.deepEqual(del.body, { deleted: '1', key: '/apisix/routes/a' });
  const del2 = await h.call('DELETE', '/apisix/admin/routes/a');
  assert.equal(del2.status, 404);
  assert.deepEqual(del2.body, { error_msg: 'Key not found', message: 'Key not found' });
  const noid = await h.call('DELETE', '/apisix/admin/routes');
  assert.deepEqual(noid.body, { error_msg: 'missing route id' });
});

test('R-ADM-10 body limit and invalid JSON with req_body', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const big = JSON.stringify({ uri: '/a', desc: 'x'.repeat(1572864) });
  const r = await h.call('PUT', '/apisix/admin/routes/1', big);
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, {
    error_msg: `invalid request body: request size ${Buffer.byteLength(big)} is greater than the maximum size 1572864 allowed`,
  });
  const bad = '{"fallback_strategy: "instance_health_and_rate_limiting",}';
  const r2 = await h.call('PUT', '/apisix/admin/routes/1', bad);
  assert.equal(r2.status, 400);
  assert.ok(r2.body.error_msg.startsWith('invalid request body: '));
  assert.equal(r2.body.req_body, bad);
  // the server still answers on the same connection pool
  assert.equal((await h.call('GET', '/apisix/admin/routes')).status, 200);
  assert.equal(h.store.snapshot().size, 0);
});

test('R-ADM-11 unknown resource; R-ADM-40 empty collections', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r = await h.call('GET', '/apisix/admin/nothing/1');
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { error_msg: 'Unsupported resource type: nothing' });
  for (const c of ['ssls', 'plugin_configs', 'plugin_metadata', 'stream_routes', 'consumer_groups', 'protos', 'secrets']) {
    const g = await h.call('GET', `/apisix/admin/${c}`);
    assert.equal(g.status, 200, c);
    assert.deepEqual(g.body, { total: 0, list: [] });
    const w = await h.call('PUT', `/apisix/admin/${c}/1`, { a: 1 });
    assert.equal(w.status, 400);
    assert.deepEqual(w.body, { error_msg: `${c} is not supported by switchyard` });
  }
});

test('R-ADM-12 ttl must be a number; items expire', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const r = await h.call('PUT', '/apisix/admin/routes/1?ttl=abc', { uri: '/a', upstream: up });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { error_msg: 'invalid argument ttl: should be a number' });
  const ok = await h.call('PUT', '/apisix/admin/routes/1?ttl=1', { uri: '/a', upstream: up });
  assert.equal(ok.status, 201);
  const deadline = Date.now() + 4000;
  let gone = false;
  while (Date.now() < deadline) {
    if ((await h.call('GET', '/apisix/admin/routes/1')).status === 404) {
      gone = true;
      break;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.ok(gone, 'the item expired');
});

test('R-ADM-13 405 combinations', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  const cases: Array<[string, string, string]> = [
    ['POST', '/apisix/admin/consumers', 'not supported `POST` method for consumer'],
    ['PATCH', '/apisix/admin/consumers/jack', 'not supported `PATCH` method for consumer'],
    ['POST', '/apisix/admin/consumers/jack/credentials', 'not supported `POST` method for credential'],
    ['PATCH', '/apisix/admin/consumers/jack/credentials/c1', 'not supported `PATCH` method for credential'],
    ['POST', '/apisix/admin/global_rules', 'not supported `POST` method for global rule'],
  ];
  for (const [m, p, msg] of cases) {
    const r = await h.call(m, p, { username: 'jack', plugins: {} });
    assert.equal(r.status, 405, `${m} ${p}`);
    assert.deepEqual(r.body, { error_msg: msg });
  }
});

test('R-ADM-30 R-ADM-31 R-ADM-32 PATCH merge, sub-path, errors', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await h.call('PUT', '/apisix/admin/routes/1', {
    uri: '/a', methods: ['GET', 'POST'], desc: 'd', labels: { a: '1', b: '2' }, upstream: up,
  });
  const p = await h.call('PATCH', '/apisix/admin/routes/1', { methods: ['PUT'], desc: null, labels: { b: '3', c: '4' } });
  assert.equal(p.status, 200);
  assert.deepEqual(p.body.value.methods, ['PUT']);
  assert.equal('desc' in p.body.value, false);
  assert.deepEqual(p.body.value.labels, { a: '1', b: '3', c: '4' });
  assert.equal(p.body.key, '/apisix/routes/1');
  const s = await h.call('PATCH', '/apisix/admin/routes/1/methods', ['GET']);
  assert.deepEqual(s.body.value.methods, ['GET']);
  const s2 = await h.call('PATCH', '/apisix/admin/routes/1/plugins/key-auth', {});
  assert.equal(s2.status, 200);
  assert.deepEqual(s2.body.value.plugins, { 'key-auth': {} });
  const s3 = await h.call('PATCH', '/apisix/admin/routes/1/uri', '"/new"');
  assert.equal(s3.body.value.uri, '/new');
  const before = dump(h.store);
  const bad = await h.call('PATCH', '/apisix/admin/routes/1', { uri: '' });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body, { error_msg: 'invalid configuration: property "uri" validation failed: string too short, expected at least 1, got 0' });
  const bad2 = await h.call('PATCH', '/apisix/admin/routes/1/plugins/nope', {});
  assert.deepEqual(bad2.body, { error_msg: 'unknown plugin [nope]' });
  assert.deepEqual((await h.call('PATCH', '/apisix/admin/routes', { desc: 'x' })).body, { error_msg: 'missing route id' });
  assert.deepEqual((await h.call('PATCH', '/apisix/admin/routes/1/uri/x', '1')).body, { error_msg: 'invalid sub-path: /uri' });
  assert.deepEqual((await h.call('PATCH', '/apisix/admin/routes/1')).body, { error_msg: 'missing new configuration' });
  assert.deepEqual((await h.call('PATCH', '/apisix/admin/routes/1', '[1]')).body, { error_msg: 'invalid configuration' });
  assert.deepEqual((await h.call('PATCH', '/apisix/admin/routes/1', '"x"')).body, { error_msg: 'invalid configuration' });
  const miss = await h.call('PATCH', '/apisix/admin/routes/404', { desc: 'x' });
  assert.equal(miss.status, 404);
  assert.deepEqual(miss.body, { error_msg: 'Key not found', message: 'Key not found' });
  assert.deepEqual((await h.call('PATCH', '/apisix/admin/routes/1', { id: '2' })).body, { error_msg: 'wrong route id' });
  assert.equal(dump(h.store), before, 'R-GEN-11 failed PATCHes leave the store unchanged');
  // global rules and services may be patched
  await h.call('PUT', '/apisix/admin/global_rules/g', { plugins: { prometheus: {} } });
  const g = await h.call('PATCH', '/apisix/admin/global_rules/g', { plugins: { 'key-auth': {} } });
  assert.equal(g.status, 200);
  assert.deepEqual(Object.keys(g.body.value.plugins).sort(), ['key-auth', 'prometheus']);
});

test('R-ADM-24 R-ADM-25 filters and pagination', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  await h.call('PUT', '/apisix/admin/upstreams/u1', up);
  await h.call('PUT', '/apisix/admin/services/s1', { upstream: up });
  for (let i = 0; i < 25; i++) {
    const id = `r${String(25 - i).padStart(2, '0')}`;
    await h.call('PUT', `/apisix/admin/routes/${id}`, {
      uri: i % 2 ? `/odd/${i}` : undefined,
      uris: i % 2 ? undefined : [`/even/${i}`, '/shared'],
      name: i % 3 ? `name-${i}` : undefined,
      labels: i % 5 === 0 ? { five: 'yes' } : undefined,
      ...(i % 4 === 0 ? { service_id: 's1' } : { upstream_id: 'u1' }),
    });
  }
  const all = await h.call('GET', '/apisix/admin/routes');
  assert.equal(all.body.total, 25);
  const byName = await h.call('GET', '/apisix/admin/routes?name=^name-1');
  assert.ok(byName.body.list.every((i: any) => /^name-1/.test(i.value.name)));
  assert.equal(byName.body.total, byName.body.list.length);
  assert.ok(byName.body.total > 0);
  const byLabel = await h.call('GET', '/apisix/admin/routes?label=five');
  assert.equal(byLabel.body.total, 5);
  const byUri = await h.call('GET', '/apisix/admin/routes?uri=' + encodeURIComponent('^/odd/'));
  assert.equal(byUri.body.total, 12);
  const byUris = await h.call('GET', '/apisix/admin/routes?uri=shared');
  assert.equal(byUris.body.total, 13);
  const byFilter = await h.call('GET', '/apisix/admin/routes?filter=' + encodeURIComponent('service_id=s1'));
  assert.equal(byFilter.body.total, 7);
  const both = await h.call('GET', '/apisix/admin/routes?label=five&filter=' + encodeURIComponent('service_id=s1&x=y'));
  assert.equal(both.body.total, 2);
  // pagination: ordered by createdIndex, total before slicing
  const p1 = await h.call('GET', '/apisix/admin/routes?page=1&page_size=10');
  assert.equal(p1.body.total, 25);
  assert.equal(p1.body.list.length, 10);
  assert.equal(p1.body.list[0].key, '/apisix/routes/r25');
  const p3 = await h.call('GET', '/apisix/admin/routes?page=3&page_size=10');
  assert.equal(p3.body.list.length, 5);
  assert.equal(p3.body.list[4].key, '/apisix/routes/r01');
  const p0 = await h.call('GET', '/apisix/admin/routes?page=0&page_size=10');
  assert.equal(p0.body.list[0].key, '/apisix/routes/r25');
  // only page_size: no pagination
  assert.equal((await h.call('GET', '/apisix/admin/routes?page_size=10')).body.list.length, 25);
  for (const s of ['9', '501']) {
    const r = await h.call('GET', `/apisix/admin/routes?page=1&page_size=${s}`);
    assert.equal(r.status, 400);
    assert.equal(r.text, 'page_size must be between 10 and 500');
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
  }
});
