// `switchyard sync` / `switchyard dump` through the real CLI against a real
// gateway (R-DECL-30, R-DECL-31, R-DECL-14, R-DECL-20, CONTRACT sync/dump).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';
import { CHAT, cliConfig, pointAtMock, post, readFixture, runCli, runInProcess, writeYaml } from './util.js';

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
const SERVICE_ID = sha1('ai-proxy-multi-service');
const ROUTE_ID = sha1('ai-proxy-multi-service.ai-proxy-multi-route');
const env = { OPENAI_API_KEY: 'sk-openai', DEEPSEEK_API_KEY: 'sk-deepseek' };

let gw: GatewayProcess;
let mock: MockLlm;
let config: string;

test.before(async () => {
  mock = await startMockLlm();
  gw = await startGateway();
  config = cliConfig(gw);
});
test.after(async () => {
  await gw?.stop();
  await mock?.close();
});

/** the real CLI (a child process) */
const cliSync = (...args: string[]) => runCli(['sync', '-c', config, ...args], { cwd: gw.dir, env });
/** the same command in this process */
const sync = (...args: string[]) => runInProcess(['sync', '-c', config, ...args], env);

async function state() {
  const out: Record<string, unknown> = {};
  for (const c of ['routes', 'services', 'consumers', 'global_rules']) {
    const r = await gw.admin('GET', `/apisix/admin/${c}`);
    assert.equal(r.status, 200);
    for (const it of r.body.list) out[it.key] = it.modifiedIndex;
  }
  return out;
}

test('R-DECL-30, R-DECL-13, R-SCN-1: sync creates the seed resources with ADC ids, prints one line each, routes serve', async () => {
  const file = writeYaml(gw.dir, 'lb.yaml', pointAtMock(readFixture('seed-1-load-balance.yaml'), mock.url));
  const r = await cliSync('-f', file);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'create service "ai-proxy-multi-service"\ncreate route "ai-proxy-multi-route"\n');
  const route = await gw.admin('GET', `/apisix/admin/routes/${ROUTE_ID}`);
  assert.equal(route.status, 200);
  assert.equal(route.body.value.service_id, SERVICE_ID);
  assert.equal(route.body.value.status, 1);
  assert.equal(route.body.value.plugins['ai-proxy-multi'].instances[0].auth.header.Authorization, 'Bearer sk-openai');
  const models: string[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await post(gw.proxyUrl + '/anything', CHAT);
    assert.equal(res.status, 200);
    models.push(res.body.model);
  }
  assert.equal(models.filter((m) => m === 'gpt-4').length, 8);
  assert.equal(models.filter((m) => m === 'deepseek-chat').length, 2);
});

test('R-DECL-30: a second sync of the same file prints only "no changes" and rewrites nothing', async () => {
  const before = await state();
  const r = await cliSync('-f', path.join(gw.dir, 'lb.yaml'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'no changes\n');
  assert.deepEqual(await state(), before);
});

test('R-DECL-30: --dry-run prints the changes and applies nothing', async () => {
  const doc = pointAtMock(readFixture('seed-1-load-balance.yaml'), mock.url);
  doc.services[0].routes[0].plugins['ai-proxy-multi'].instances[0].weight = 1;
  doc.consumers = [{ username: 'dry', credentials: [{ name: 'k', type: 'key-auth', config: { key: 'dry-key' } }] }];
  const file = writeYaml(gw.dir, 'dry.yaml', doc);
  const before = await state();
  const r = await sync('-f', file, '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'update route "ai-proxy-multi-route"\ncreate consumer "dry"\ncreate credential "dry/k"\n');
  assert.deepEqual(await state(), before);
  assert.equal((await gw.admin('GET', '/apisix/admin/consumers/dry')).status, 404);
});

test('R-DECL-30: resources absent from the files are deleted (routes before services, credentials before consumers)', async () => {
  // two files: consumers and the route (the seed's consumer example is split that way)
  const consumers = writeYaml(gw.dir, 'consumers.yaml', readFixture('seed-3a-consumers.yaml'));
  const route = writeYaml(gw.dir, 'route.yaml', pointAtMock(readFixture('seed-3b-consumer-route.yaml'), mock.url));
  let r = await sync('-f', consumers, '-f', route);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'update route "ai-proxy-multi-route"',
    'create consumer "johndoe"',
    'create consumer "janedoe"',
    'create credential "johndoe/key-auth"',
    'create credential "janedoe/key-auth"',
  ]);
  assert.equal((await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'john-key' })).status, 200);
  assert.equal((await post(gw.proxyUrl + '/anything', CHAT)).status, 401);

  // only the consumers: the route and the service go
  r = await sync('-f', consumers);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'delete route "ai-proxy-multi-route"\ndelete service "ai-proxy-multi-service"\n');
  assert.equal((await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'john-key' })).status, 404);

  // janedoe removed from the file: her credential, then she, are deleted
  const doc = readFixture('seed-3a-consumers.yaml');
  doc.consumers = doc.consumers.filter((c: any) => c.username !== 'janedoe');
  r = await sync('-f', writeYaml(gw.dir, 'john.yaml', doc));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'delete credential "janedoe/key-auth"\ndelete consumer "janedoe"\n');
  assert.equal((await gw.admin('GET', '/apisix/admin/consumers/janedoe')).status, 404);
});

test('R-DECL-14, R-DECL-30: an invalid resource fails the whole sync, names file/path/field, writes nothing', async () => {
  const before = await state();
  const doc = pointAtMock(readFixture('seed-1-load-balance.yaml'), mock.url);
  doc.services[0].routes[0].plugins['ai-proxy-multi'].instances[0].override.endpoint = 'not a url';
  doc.services.push({ name: 'extra', routes: [{ name: 'x', uris: ['/x'], plugins: { 'key-auth': {} } }] });
  const file = writeYaml(gw.dir, 'bad.yaml', doc);
  let r = await cliSync('-f', file);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}: services\\[0\\]\\.routes\\[0\\]\\.plugins: failed to check the configuration of plugin ai-proxy-multi err: `));
  assert.match(r.stderr, /nothing was applied/);
  assert.deepEqual(await state(), before);

  // schema errors name the field
  r = await sync('-f', writeYaml(gw.dir, 'bad2.yaml', { services: [{ name: 's', routes: [{ name: 'r', uris: ['/a'], methods: ['FETCH'] }] }] }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad2\.yaml: services\[0\]\.routes\[0\]\.methods: invalid configuration: property "methods" validation failed/);
  // unknown plugin
  r = await sync('-f', writeYaml(gw.dir, 'bad3.yaml', { consumers: [{ username: 'u', plugins: { 'no-such-plugin': {} } }] }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad3\.yaml: consumers\[0\]\.plugins: .*no-such-plugin/);
  // a parse error
  r = await sync('-f', writeYaml(gw.dir, 'bad4.yaml', 'services:\n  - name: a\n    routs: []\n'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad4\.yaml: services\[0\]\.routs: unknown key "routs"/);
  assert.deepEqual(await state(), before);
  // a usage error
  r = await runInProcess(['sync']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing -f FILE/);
});

test('R-DECL-20, R-DECL-21, R-DECL-22: an APISIX standalone file syncs (routes, consumers, credentials) and serves', async () => {
  const text = `routes:
  - id: ai-proxy-multi-route
    uri: /anything
    methods: [POST]
    plugins:
      key-auth: {}
      ai-proxy-multi:
        instances:
          - name: openai-instance
            provider: openai
            weight: 8
            auth: {header: {Authorization: "Bearer \${{OPENAI_API_KEY}}"}}
            options: {model: gpt-4}
            override: {endpoint: "${mock.url}"}
consumers:
  - username: johndoe
    plugins:
      ai-rate-limiting: {instances: [{name: openai-instance, limit: 10, time_window: 60}]}
  - id: johndoe/credentials/cred-john-key-auth
    plugins:
      key-auth: {key: john-key}
#END
`;
  const file = writeYaml(gw.dir, 'apisix.yaml', text);
  let r = await sync('-f', file);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), [
    'create credential "johndoe/cred-john-key-auth"',
    'create route "ai-proxy-multi-route"',
    'delete credential "johndoe/key-auth"',
    'update consumer "johndoe"',
  ]);
  const res = await post(gw.proxyUrl + '/anything', CHAT, { apikey: 'john-key' });
  assert.equal(res.status, 200);
  assert.equal(res.body.model, 'gpt-4');
  const seen = mock.requests.at(-1)!;
  assert.equal(seen.headers.authorization, 'Bearer sk-openai');
  assert.equal(seen.headers['x-consumer-username'], 'johndoe');
  r = await sync('-f', file);
  assert.equal(r.stdout, 'no changes\n');
});

test('R-DECL-31, CONTRACT dump: dump writes a file that sync reads back with no changes (ADC and standalone)', async () => {
  // the current state came from a standalone file (a route without a service): standalone dump
  let out = path.join(gw.dir, 'dump1.yaml');
  let r = await runInProcess(['dump', '-c', config, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /standalone/);
  assert.match(readFileSync(out, 'utf8'), /#END\s*$/);
  assert.equal(statSync(out).mode & 0o777, 0o600, 'R-SEC-10: a dump file is owner-only');
  r = await sync('-f', out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'no changes\n');

  // an ADC state (services, routes, consumers, credentials, a global rule): ADC dump to stdout
  const doc = pointAtMock(readFixture('seed-2-priority-rate-limit.yaml'), mock.url);
  doc.consumers = readFixture('seed-3a-consumers.yaml').consumers;
  doc.global_rules = { prometheus: { prefer_name: true } };
  doc.services[0].description = 'desc with ${LITERAL}';
  r = await sync('-f', writeYaml(gw.dir, 'full.yaml', doc));
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(['dump', '-c', config], { cwd: gw.dir });  // the real CLI
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /#END/);
  assert.match(r.stdout, /^services:/m);
  assert.match(r.stdout, /^consumers:/m);
  out = writeYaml(gw.dir, 'dump2.yaml', r.stdout);
  r = await sync('-f', out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'no changes\n');

  // R-SEC-10: dumping over an existing world-readable file narrows it to 0600
  const wide = path.join(gw.dir, 'dump3.yaml');
  writeFileSync(wide, 'old\n', { mode: 0o644 });
  r = await runCli(['dump', '-c', config, '-o', wide], { cwd: gw.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(wide).mode & 0o777, 0o600);
  assert.match(readFileSync(wide, 'utf8'), /^consumers:/m);
});
