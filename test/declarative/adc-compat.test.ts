// The Admin API as the real ADC CLI uses it (R-DECL-1, R-DECL-2): the
// requests ADC's APISIX backend sends (libs/backend-apisix: fetcher,
// operator, transformer) replayed against switchyard, and the shapes and
// headers ADC reads back. The `adc` binary itself is not installed in CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';
import { CHAT, cliConfig, post, readFixture, runInProcess, writeYaml } from './util.js';

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

let gw: GatewayProcess;
let mock: MockLlm;

test.before(async () => {
  mock = await startMockLlm();
  gw = await startGateway();
});
test.after(async () => {
  await gw?.stop();
  await mock?.close();
});

/** ADC's axios client: JSON content type and X-API-KEY on every request */
async function adc(method: string, path: string, body?: unknown) {
  return gw.admin(method, path, body, { 'content-type': 'application/json' });
}

test('R-DECL-1, R-GEN-4: ADC reads the APISIX version (>= 3.11, credentials allowed) from the Server header of GET /apisix/admin/routes', async () => {
  const r = await adc('GET', '/apisix/admin/routes');
  assert.equal(r.status, 200);
  const server = r.headers.get('server') ?? '';
  const m = /APISIX\/(.*)/.exec(server);
  assert.ok(m, server);
  // semver.coerce takes the first x.y.z
  const [major, minor] = /(\d+)\.(\d+)\.(\d+)/.exec(m![1]!)!.slice(1).map(Number);
  assert.ok(major! > 3 || (major === 3 && minor! >= 11), server);
  assert.equal(r.headers.get('x-api-version'), 'v3');
});

test('R-DECL-1, R-ADM-40, R-ADM-22: every collection ADC fetches answers 200 {total, list}', async () => {
  for (const c of ['services', 'routes', 'upstreams', 'ssls', 'consumers', 'plugin_configs', 'global_rules', 'plugin_metadata', 'stream_routes']) {
    const r = await adc('GET', `/apisix/admin/${c}`);
    assert.equal(r.status, 200, c);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(typeof r.body.total, 'number', c);
    assert.ok(Array.isArray(r.body.list), c);
  }
});

test('R-DECL-2, R-DECL-12: the writes ADC sends are accepted, serve traffic, and equal what `switchyard sync` of the same files stores', async () => {
  const svcId = sha1('ai-proxy-multi-service');
  const routeId = sha1('ai-proxy-multi-service.ai-proxy-multi-route');
  const route = readFixture('seed-3b-consumer-route.yaml').services[0].routes[0];
  for (const i of route.plugins['ai-proxy-multi'].instances) {
    i.auth.header.Authorization = 'Bearer sk-x';
    i.override = { endpoint: mock.url };
  }
  // upstream first (ADC puts a service's upstream at upstreams/<service id>), then the service without it
  let r = await adc('PUT', `/apisix/admin/upstreams/${svcId}`, {
    name: 'ups', type: 'roundrobin', nodes: [{ host: '127.0.0.1', port: 1980, weight: 1 }], labels: { tags: '["a","b"]' },
  });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  r = await adc('DELETE', `/apisix/admin/upstreams/${svcId}`);
  assert.equal(r.status, 200, r.text);
  r = await adc('PUT', `/apisix/admin/services/${svcId}`, { name: 'ai-proxy-multi-service' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.key, `/apisix/services/${svcId}`);
  // route: no id in the body, status 1, service_id
  r = await adc('PUT', `/apisix/admin/routes/${routeId}`, {
    name: route.name, uris: route.uris, methods: route.methods, plugins: route.plugins, service_id: svcId, status: 1,
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.value.id, routeId);
  // consumers and credentials
  for (const c of readFixture('seed-3a-consumers.yaml').consumers) {
    // the URL form and the collection form (username in the body) both work
    const url = c.username === 'johndoe' ? `/apisix/admin/consumers/${c.username}` : '/apisix/admin/consumers';
    r = await adc('PUT', url, { username: c.username, plugins: c.plugins });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.key, `/apisix/consumers/${c.username}`);
    // a consumer without credentials lists none (ADC reads this for every consumer)
    r = await adc('GET', `/apisix/admin/consumers/${c.username}/credentials`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { total: 0, list: [] });
    for (const cred of c.credentials) {
      const credId = sha1(`${c.username}.${cred.name}`);
      r = await adc('PUT', `/apisix/admin/consumers/${c.username}/credentials/${credId}`, {
        name: cred.name, plugins: { [cred.type]: cred.config },
      });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.key, `/apisix/consumers/${c.username}/credentials/${credId}`);
    }
  }
  // one global rule per plugin, id = plugin name
  r = await adc('PUT', '/apisix/admin/global_rules/prometheus', { plugins: { prometheus: {} } });
  assert.equal(r.status, 201, r.text);

  // what ADC's fetcher reads back
  const creds = await adc('GET', '/apisix/admin/consumers/johndoe/credentials');
  assert.equal(creds.status, 200);
  assert.equal(creds.body.total, 1);
  assert.equal(creds.body.list[0].value.name, 'key-auth');
  assert.deepEqual(creds.body.list[0].value.plugins, { 'key-auth': { key: 'john-key' } });
  const consumers = await adc('GET', '/apisix/admin/consumers');
  assert.deepEqual(consumers.body.list.map((i: any) => i.key).sort(), ['/apisix/consumers/janedoe', '/apisix/consumers/johndoe']);
  assert.equal((await adc('GET', '/apisix/admin/consumers/nobody/credentials')).status, 404);
  const rules = await adc('GET', '/apisix/admin/global_rules');
  assert.deepEqual(rules.body.list.map((i: any) => Object.keys(i.value.plugins)), [['prometheus']]);

  // traffic
  assert.equal((await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'jane-key' })).status, 200);
  assert.equal((await post(gw.proxyUrl + '/anything', CHAT)).status, 401);

  // switchyard's own sync of the same files finds nothing to change: same ids, same values
  const doc = readFixture('seed-3b-consumer-route.yaml');
  doc.services[0].routes[0] = { ...doc.services[0].routes[0], plugins: route.plugins };
  doc.consumers = readFixture('seed-3a-consumers.yaml').consumers;
  doc.global_rules = { prometheus: {} };
  const file = writeYaml(gw.dir, 'same.yaml', doc);
  const s = await runInProcess(['sync', '-c', cliConfig(gw), '-f', file]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, 'no changes\n');

  // ADC deletes in reverse order; each answers {deleted, key}
  for (const p of [
    `/apisix/admin/routes/${routeId}`,
    `/apisix/admin/services/${svcId}`,
    `/apisix/admin/consumers/johndoe/credentials/${sha1('johndoe.key-auth')}`,
    '/apisix/admin/consumers/johndoe',
    '/apisix/admin/consumers/janedoe',
    '/apisix/admin/global_rules/prometheus',
  ]) {
    r = await adc('DELETE', p);
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    assert.equal(r.body.key, p.replace('/apisix/admin', '/apisix'));
  }
  assert.equal((await adc('GET', '/apisix/admin/routes')).body.total, 0);
});
