// Unit tests: ADC and standalone parsing, ids, env substitution, errors,
// diff plans and the dump round trip (R-DECL-*).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDeclarative, loadFiles, detectFormat, mergeResources } from '../../src/declarative/load.js';
import { computeDiff, changeLine } from '../../src/declarative/diff.js';
import { dumpResources } from '../../src/declarative/dump.js';
import { DeclarativeError, resourceKey, type Resource } from '../../src/declarative/model.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/declarative/fixtures');
const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
const env = { OPENAI_API_KEY: 'sk-openai', DEEPSEEK_API_KEY: 'sk-deepseek' };

function parse(text: string, e: NodeJS.ProcessEnv = env, file = 'adc.yaml') {
  return parseDeclarative(text, file, undefined, e).resources;
}

function errorOf(fn: () => unknown): DeclarativeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DeclarativeError, `expected a DeclarativeError, got ${err}`);
    return err;
  }
  assert.fail('expected an error');
}

test('R-DECL-13: every ADC file of the seed parses', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.startsWith('seed-'));
  assert.ok(files.length >= 9);
  for (const f of files) {
    const text = readFileSync(path.join(FIXTURES, f), 'utf8');
    assert.equal(detectFormat(text, undefined), 'adc');
    const res = parseDeclarative(text, f, undefined, env);
    assert.equal(res.format, 'adc', f);
    assert.ok(res.resources.length >= 2, f);
  }
});

test('R-DECL-12: ADC ids and mapping (service, route, consumer, credential, global rule)', () => {
  const rs = parse(readFileSync(path.join(FIXTURES, 'seed-1-load-balance.yaml'), 'utf8'));
  const svc = rs.find((r) => r.kind === 'service')!;
  const route = rs.find((r) => r.kind === 'route')!;
  assert.equal(svc.id, sha1('ai-proxy-multi-service'));
  assert.deepEqual(svc.value, { id: svc.id, name: 'ai-proxy-multi-service' });
  assert.equal(route.id, sha1('ai-proxy-multi-service.ai-proxy-multi-route'));
  assert.equal(route.value.service_id, svc.id);
  assert.equal(route.value.status, 1);
  assert.deepEqual(route.value.uris, ['/anything']);
  assert.deepEqual(route.value.methods, ['POST']);
  const inst = (route.value.plugins as any)['ai-proxy-multi'].instances;
  assert.equal(inst[0].auth.header.Authorization, 'Bearer sk-openai');
  assert.equal(inst[1].weight, 2);

  const cs = parse(readFileSync(path.join(FIXTURES, 'seed-3a-consumers.yaml'), 'utf8'));
  const john = cs.find((r) => r.kind === 'consumer' && r.id === 'johndoe')!;
  assert.deepEqual(Object.keys(john.value).sort(), ['plugins', 'username']);
  const cred = cs.find((r) => r.kind === 'credential' && r.username === 'johndoe')!;
  assert.equal(cred.id, sha1('johndoe.key-auth'));
  assert.deepEqual(cred.value, { id: cred.id, name: 'key-auth', plugins: { 'key-auth': { key: 'john-key' } } });
  assert.equal(resourceKey(cred), `/apisix/consumers/johndoe/credentials/${cred.id}`);

  const g = parse('global_rules:\n  prometheus: {prefer_name: true}\n  http-logger: {uri: "http://127.0.0.1:1/x"}\n');
  assert.deepEqual(g.map((r) => [r.kind, r.id, r.value]), [
    ['global_rule', 'prometheus', { id: 'prometheus', plugins: { prometheus: { prefer_name: true } } }],
    ['global_rule', 'http-logger', { id: 'http-logger', plugins: { 'http-logger': { uri: 'http://127.0.0.1:1/x' } } }],
  ]);
});

test('R-DECL-10, R-DECL-2: description -> desc, label lists JSON-encoded, explicit ids, route fields', () => {
  const rs = parse(`
services:
  - name: s
    id: my-svc
    description: the service
    labels: {team: ai, envs: [a, b]}
    hosts: [api.example.com]
    upstream: {type: roundrobin, nodes: [{host: 127.0.0.1, port: 1980, weight: 1}]}
    routes:
      - name: r
        description: a route
        uris: [/x, /y]
        methods: [GET]
        hosts: [a.example.com]
        priority: 3
        vars: [["arg_a", "==", "1"]]
        timeout: {connect: 1, send: 2, read: 3}
        remote_addrs: [127.0.0.1]
        enable_websocket: false
        plugins: {key-auth: {}}
      - name: r2
        id: explicit
        uris: [/z]
`);
  const svc = rs[0]!;
  assert.equal(svc.id, 'my-svc');
  assert.deepEqual(svc.value.labels, { team: 'ai', envs: '["a","b"]' });
  assert.equal(svc.value.desc, 'the service');
  const r = rs[1]!;
  assert.equal(r.id, sha1('s.r'));
  assert.equal(r.value.service_id, 'my-svc');
  for (const k of ['uris', 'methods', 'hosts', 'priority', 'vars', 'timeout', 'remote_addrs', 'enable_websocket', 'plugins']) {
    assert.ok(k in r.value, k);
  }
  assert.equal(r.value.desc, 'a route');
  assert.equal(rs[2]!.id, 'explicit');
});

test('R-DECL-11: ${NAME} substitution in string values only; unset -> ""; \\${NAME} literal', () => {
  const rs = parse(
    `services:
  - name: "\${SVC}"
    labels: {k: "\${UNSET_VAR_X}x", "\${KEYNAME}": v}
    plugins:
      p: {a: "Bearer \${TOKEN}", b: '\\\${TOKEN}', n: 5}
`,
    { SVC: 'svc1', TOKEN: 'tok', KEYNAME: 'nope' },
  );
  const v = rs[0]!.value as any;
  assert.equal(v.name, 'svc1');
  assert.equal(rs[0]!.id, sha1('svc1'));
  assert.deepEqual(v.labels, { k: 'x', '${KEYNAME}': 'v' });
  assert.deepEqual(v.plugins.p, { a: 'Bearer tok', b: '${TOKEN}', n: 5 });
});

test('R-DECL-15: duplicate names are errors naming the file and the path', () => {
  let e = errorOf(() => parse('services:\n  - name: a\n  - name: a\n', env, 'one.yaml'));
  assert.match(e.message, /^one\.yaml: services\[1\]: Duplicate service "a" was found in one\.yaml/);
  e = errorOf(() => parse('services:\n  - name: a\n    routes:\n      - {name: r, uris: [/a]}\n      - {name: r, uris: [/b]}\n'));
  assert.match(e.message, /services\[0\]\.routes\[1\]: Duplicate route "r"/);
  e = errorOf(() => parse('consumers:\n  - username: u\n  - username: u\n'));
  assert.match(e.message, /consumers\[1\]: Duplicate consumer "u"/);
  e = errorOf(() => parse('consumers:\n  - username: u\n    credentials:\n      - {name: c, type: key-auth, config: {key: a}}\n      - {name: c, type: key-auth, config: {key: b}}\n'));
  assert.match(e.message, /consumers\[0\]\.credentials\[1\]: Duplicate credential "c"/);

  const dir = mkdtempSync(path.join(tmpdir(), 'decl-'));
  const f1 = path.join(dir, 'a.yaml');
  const f2 = path.join(dir, 'b.yaml');
  writeFileSync(f1, 'services:\n  - name: shared\n');
  writeFileSync(f2, 'services:\n  - name: shared\n');
  e = errorOf(() => loadFiles([f1, f2], undefined, env));
  assert.equal(e.file, f2);
  assert.match(e.message, new RegExp(`Duplicate service "shared" was found in ${f2.replace(/[.]/g, '\\.')}`));
  writeFileSync(f2, 'consumers:\n  - username: x\n');
  assert.equal(loadFiles([f1, f2], undefined, env).length, 2);
});

test('R-DECL-16: unsupported and unknown keys are errors naming the key', () => {
  for (const k of ['ssls', 'consumer_groups', 'plugin_metadata', 'stream_routes']) {
    const e = errorOf(() => parse(`${k}: []\n`));
    assert.equal(e.message, `adc.yaml: ${k}: ${k} is not supported by switchyard`);
  }
  for (const k of ['upstreams', 'path_prefix', 'strip_path_prefix']) {
    const e = errorOf(() => parse(`services:\n  - name: a\n    ${k}: x\n`));
    assert.equal(e.message, `adc.yaml: services[0].${k}: ${k} is not supported by switchyard`);
  }
  let e = errorOf(() => parse('consumers:\n  - username: u\n    credentials:\n      - {name: c, type: basic-auth, config: {username: a, password: b}}\n'));
  assert.match(e.message, /consumers\[0\]\.credentials\[0\]\.type: credential type "basic-auth" is not supported by switchyard/);
  e = errorOf(() => parse('services:\n  - name: a\n    colour: red\n'));
  assert.equal(e.message, 'adc.yaml: services[0].colour: unknown key "colour"');
  e = errorOf(() => parse('services:\n  - name: a\n    routes:\n      - {name: r, uri: /a}\n'));
  assert.match(e.message, /services\[0\]\.routes\[0\]\.uri: unknown key "uri"/);
  e = errorOf(() => parse('services:\n  - name: a\n    routes:\n      - {name: r}\n'));
  assert.match(e.message, /services\[0\]\.routes\[0\]\.uris: property "uris" is required/);
  e = errorOf(() => parse('services:\n  - description: x\n'));
  assert.match(e.message, /services\[0\]\.name: expected a non-empty string/);
  e = errorOf(() => parse('services: [a: 1\n'));
  assert.match(e.message, /^adc\.yaml: line \d+, column \d+: invalid YAML/);
});

test('R-DECL-20, R-DECL-21: standalone files: ids, arr_<n>, credentials, #END, _conf_version', () => {
  const text = `routes:
  - id: ai-proxy-multi-route
    uri: /anything
    methods: [POST]
    plugins:
      key-auth: {}
  - uri: /second
    upstream: {nodes: {"127.0.0.1:1980": 1}}
  - id: 7
    uri: /seven
    service_id: s1
services:
  - id: s1
    plugins: {}
upstreams:
  - id: u1
    nodes: {"127.0.0.1:1980": 1}
consumers:
  - username: johndoe
    plugins:
      ai-rate-limiting: {instances: [{name: openai-instance, limit: 10, time_window: 60}]}
  - id: johndoe/credentials/cred-john-key-auth
    plugins:
      key-auth: {key: john-key}
global_rules:
  - id: g1
    plugins: {prometheus: {}}
routes_conf_version: 3
#END
`;
  assert.equal(detectFormat(text, {}), 'standalone');
  const rs = parseDeclarative(text, 'apisix.yaml').resources;
  const keys = rs.map(resourceKey).sort();
  assert.deepEqual(keys, [
    '/apisix/consumers/johndoe',
    '/apisix/consumers/johndoe/credentials/cred-john-key-auth',
    '/apisix/global_rules/g1',
    '/apisix/routes/7',
    '/apisix/routes/ai-proxy-multi-route',
    '/apisix/routes/arr_2',
    '/apisix/services/s1',
    '/apisix/upstreams/u1',
  ]);
  const cred = rs.find((r) => r.kind === 'credential')!;
  assert.equal(cred.username, 'johndoe');
  assert.deepEqual(cred.value, { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'john-key' } } });
  assert.equal(rs.find((r) => r.id === 'arr_2')!.value.id, 'arr_2');
  assert.deepEqual(rs.find((r) => r.kind === 'consumer')!.value.username, 'johndoe');
  // detection without #END
  assert.equal(parseDeclarative('upstreams: []\n', 'x.yaml').format, 'standalone');
  assert.equal(parseDeclarative('consumers: []\n', 'x.yaml').format, 'adc');
  assert.equal(parseDeclarative('consumers: []\n', 'x.yaml', 'standalone').format, 'standalone');
  const e = errorOf(() => parseDeclarative('routes: []\nssls: []\n', 'apisix.yaml'));
  assert.equal(e.message, 'apisix.yaml: ssls: ssls is not supported by switchyard');
});

test('R-DECL-22: standalone ${{NAME}} and ${{NAME:=default}} on the raw text; unset without default is an error', () => {
  const text = 'routes:\n  - id: r1\n    uri: "${{ROUTE_URI}}"\n    plugins: {p: {a: "${{MISSING_X:=dflt}}"}}\n#END\n';
  const rs = parseDeclarative(text, 'apisix.yaml', undefined, { ROUTE_URI: '/from-env' }).resources;
  assert.equal(rs[0]!.value.uri, '/from-env');
  assert.deepEqual(rs[0]!.value.plugins, { p: { a: 'dflt' } });
  const e = errorOf(() => parseDeclarative(text, 'apisix.yaml', undefined, {}));
  assert.match(e.message, /^apisix\.yaml: line 3: environment variable ROUTE_URI is not set/);
});

test('R-DECL-30: references must be declared (no dangling service_id)', () => {
  const e = errorOf(() => mergeResources([parseDeclarative('routes:\n  - {id: r, uri: /a, service_id: nope}\n', 'a.yaml').resources]));
  assert.match(e.message, /^a\.yaml: routes\[0\]\.service_id: service_id "nope" does not name a service/);
});

function current(rs: Resource[]): Resource[] {
  // what the Admin API returns: the value plus timestamps
  return rs.map((r) => ({ ...r, source: undefined, value: { ...r.value, create_time: 1, update_time: 2 } }));
}

test('R-DECL-30: diff plan: creates in reference order, unchanged skipped, deletes in reverse, lines', () => {
  const a = parse(readFileSync(path.join(FIXTURES, 'seed-3a-consumers.yaml'), 'utf8'));
  const b = parse(readFileSync(path.join(FIXTURES, 'seed-3b-consumer-route.yaml'), 'utf8'));
  const desired = mergeResources([a, b]);
  const plan = computeDiff(desired, []);
  assert.deepEqual(plan.map(changeLine), [
    'create service "ai-proxy-multi-service"',
    'create route "ai-proxy-multi-route"',
    'create consumer "johndoe"',
    'create consumer "janedoe"',
    'create credential "johndoe/key-auth"',
    'create credential "janedoe/key-auth"',
  ]);
  // idempotent: the same set is no change, timestamps ignored
  assert.deepEqual(computeDiff(desired, current(desired)), []);
  // one change, and removing things
  const changed = desired.map((r) => (r.kind === 'consumer' && r.id === 'janedoe' ? { ...r, value: { ...r.value, desc: 'x' } } : r));
  const smaller = changed.filter((r) => !(r.kind === 'route' || r.kind === 'service' || (r.kind === 'credential' && r.username === 'johndoe')));
  assert.deepEqual(computeDiff(smaller, current(desired)).map(changeLine), [
    'update consumer "janedoe"',
    'delete route "ai-proxy-multi-route"',
    'delete service "ai-proxy-multi-service"',
    'delete credential "johndoe/key-auth"',
  ]);
  // global rules: deleted first (a plugin may move between rules)
  const g = parse('global_rules:\n  prometheus: {}\n');
  const old: Resource = { kind: 'global_rule', id: '1', value: { id: '1', plugins: { prometheus: {} } } };
  assert.deepEqual(computeDiff(g, [old]).map(changeLine), ['delete global_rule "1"', 'create global_rule "prometheus"']);
  // an integer id and its string form are the same
  const intId: Resource = { kind: 'route', id: '7', value: { id: 7, uri: '/a', upstream: { nodes: {} } } };
  assert.deepEqual(computeDiff([{ ...intId, value: { ...intId.value, id: '7' } }], [intId]), []);
});

test('R-DECL-31: dump as ADC reads back with no changes; non-ADC shapes dump as standalone', () => {
  const all = mergeResources(
    readdirSync(FIXTURES)
      .filter((f) => f === 'seed-3a-consumers.yaml' || f === 'seed-2-priority-rate-limit.yaml')
      .map((f) => parse(readFileSync(path.join(FIXTURES, f), 'utf8'))),
  );
  const withExtras = [
    ...all,
    ...parse('global_rules:\n  prometheus: {prefer_name: true}\nservices:\n  - {name: other, id: custom, labels: {a: "[1]"}, plugins: {p: {x: "lit ${HOME}"}}}\n'),
  ].map((r) => (r.kind === 'service' && r.id === 'custom' ? { ...r, value: { ...r.value, plugins: { p: { x: 'lit ${HOME}' } } } } : r));
  const dumped = dumpResources(current(withExtras));
  assert.equal(dumped.format, 'adc');
  assert.match(dumped.text, /\\\$\{HOME\}/);
  const back = parseDeclarative(dumped.text, 'dump.yaml', undefined, { HOME: '/root' }).resources;
  assert.deepEqual(computeDiff(back, current(withExtras)), []);

  // a route without a service (the Admin API tab of the seed) has no ADC form
  const admin: Resource[] = [
    { kind: 'route', id: 'ai-proxy-multi-route', value: { id: 'ai-proxy-multi-route', uri: '/anything', methods: ['POST'], plugins: { 'key-auth': {} } } },
    { kind: 'consumer', id: 'johndoe', value: { username: 'johndoe' } },
    { kind: 'credential', id: 'cred-john-key-auth', username: 'johndoe', value: { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: 'john-key' } } } },
    { kind: 'upstream', id: 'u1', value: { id: 'u1', nodes: { '127.0.0.1:80': 1 } } },
  ];
  const d2 = dumpResources(current(admin));
  assert.equal(d2.format, 'standalone');
  assert.ok(d2.text.trimEnd().endsWith('#END'));
  const back2 = parseDeclarative(d2.text, 'dump.yaml').resources;
  assert.equal(parseDeclarative(d2.text, 'dump.yaml').format, 'standalone');
  assert.deepEqual(computeDiff(back2, current(admin)), []);
  assert.throws(() => dumpResources(current(admin), 'adc'), /no ADC form/);
  // empty configuration
  assert.deepEqual(parseDeclarative(dumpResources([]).text, 'x.yaml').resources, []);
});
