import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plugins } from '../../src/plugins/registry.js';
import type { PluginDef } from '../../src/core/types.js';
import { RuntimeHolder } from '../../src/runtime/holder.js';
import { compileUpstream } from '../../src/runtime/compile.js';
import { MemStore, captureLog } from '../proxy/harness.js';
import { createMemoryState } from '../../src/state/memory.js';
import { GatewayTransport } from '../../src/transport/index.js';
import { gatewayServices } from '../helpers/gateway-services.js';

const made: string[] = [];
const destroyed: string[] = [];
const envSeen: Array<{ parentKey: string; confHash: string }> = [];
const rt: PluginDef = {
  name: 't-rt',
  priority: 700,
  schema: { type: 'object', properties: { n: { type: 'integer', default: 1 } } },
  compile(conf, env) {
    made.push(`${env.parentKey}:${conf.n}`);
    envSeen.push({ parentKey: env.parentKey, confHash: env.confHash });
    return { n: conf.n, key: env.parentKey };
  },
  destroy(c) {
    destroyed.push(`${c.key}:${c.n}`);
  },
  access() {},
};
(plugins as Map<string, PluginDef>).set('t-rt', rt);

const noHealth = { register: () => ({ isHealthy: () => true, isCooling: () => false, trialOpen: () => false, claimTrial: () => false, observe() {}, version: 0, destroy() {} }), report: () => [], close() {} };
function holderWith(seed: Record<string, any> = {}) {
  const store = new MemStore();
  for (const [k, v] of Object.entries(seed)) store.putSync(k, v);
  const log = captureLog();
  const holder = new RuntimeHolder(store, { state: createMemoryState(), health: noHealth as any, transport: new GatewayTransport(), ...gatewayServices(), log });
  return { store, log, holder };
}
const match = (holder: RuntimeHolder, uri: string, o: { host?: string; method?: string } = {}) =>
  holder.current.router.match({ uri, host: o.host ?? 'h', method: o.method ?? 'GET', clientIp: '127.0.0.1', getVar: () => undefined });

test('R-GEN-10 a store change is visible through holder.current synchronously; bursts compile once', async () => {
  const { store, holder } = holderWith();
  try {
    assert.equal(match(holder, '/a'), undefined);
    const g0 = holder.current.generation;
    store.putSync('/apisix/routes/1', { uri: '/a', upstream: { nodes: { '127.0.0.1:1': 1 } } });
    assert.equal(match(holder, '/a')?.id, '1');
    const g1 = holder.current.generation;
    assert.ok(g1 > g0);
    for (let i = 0; i < 20; i++) store.putSync(`/apisix/routes/b${i}`, { uri: `/b${i}`, upstream: { nodes: { '127.0.0.1:1': 1 } } });
    await new Promise((r) => setImmediate(r));
    assert.equal(holder.current.generation, g1 + 1, 'one compile for the burst');
    assert.equal(holder.current.routes.length, 21);
    store.deleteSync(['/apisix/routes/1']);
    assert.equal(match(holder, '/a'), undefined);
  } finally {
    holder.close();
  }
});

test('R-PIPE-5 upstream_id resolution, service upstream and hosts, R-RTE-6 status 0', () => {
  const { holder } = holderWith({
    '/apisix/upstreams/u1': { nodes: { 'up1:80': 1 } },
    '/apisix/services/s1': { hosts: ['svc.test'], upstream_id: 'u1', plugins: { 't-rt': { n: 5 } } },
    '/apisix/routes/r1': { uri: '/r1', upstream_id: 'u1' },
    '/apisix/routes/r2': { uri: '/r2', service_id: 's1' },
    '/apisix/routes/r3': { uri: '/r3', service_id: 's1', hosts: ['route.test'], upstream: { nodes: { 'inline:81': 1 } }, plugins: { 't-rt': { n: 6 } } },
    '/apisix/routes/r4': { uri: '/r4', upstream_id: 'missing' },
    '/apisix/routes/r5': { uri: '/r5', status: 0, upstream_id: 'u1' },
  });
  try {
    assert.equal(match(holder, '/r1')!.upstream!.nodes[0]!.addr, 'up1:80');
    const r2 = match(holder, '/r2', { host: 'svc.test' })!;
    assert.equal(r2.upstream!.nodes[0]!.host, 'up1');
    assert.equal(r2.chain.all[0]!.conf.n, 5);
    assert.equal(r2.serviceId, 's1');
    assert.equal(match(holder, '/r2', { host: 'x' }), undefined);
    const r3 = match(holder, '/r3', { host: 'route.test' })!;
    assert.equal(r3.upstream!.nodes[0]!.addr, 'inline:81');
    assert.equal(r3.chain.all[0]!.conf.n, 6);
    assert.equal(r3.chain.all.length, 1);
    assert.equal(match(holder, '/r3', { host: 'svc.test' }), undefined, 'route hosts replace service hosts');
    assert.equal(match(holder, '/r4')!.broken!.status, 503);
    assert.equal(match(holder, '/r5'), undefined);
  } finally {
    holder.close();
  }
});

test('R-PIPE-7 a plugin in two global rules is dropped with an error log', () => {
  const { holder, log } = holderWith({
    '/apisix/global_rules/1': { plugins: { 't-rt': { n: 1 }, 'key-auth': {} } },
    '/apisix/global_rules/2': { plugins: { 't-rt': { n: 2 } } },
  });
  try {
    assert.deepEqual(holder.current.globalChain.all.map((p) => p.def.name), ['key-auth']);
    assert.ok(log.lines.some((l) => l.startsWith('[error]') && l.includes("plugin 't-rt'")));
  } finally {
    holder.close();
  }
});

test('compiled objects are cached by (parent key, plugin, conf) and destroyed when unused or on close', () => {
  made.length = 0;
  destroyed.length = 0;
  const { store, holder } = holderWith({ '/apisix/routes/c': { uri: '/c', plugins: { 't-rt': { n: 1 } }, upstream: { nodes: { 'a:1': 1 } } } });
  try {
    assert.deepEqual(made, ['/apisix/routes/c:1']);
    store.putSync('/apisix/routes/other', { uri: '/o', upstream: { nodes: { 'a:1': 1 } } });
    store.putSync('/apisix/routes/c', { uri: '/c2', plugins: { 't-rt': { n: 1 } }, upstream: { nodes: { 'a:1': 1 } } });
    void holder.current;
    assert.deepEqual(made, ['/apisix/routes/c:1'], 'same conf: reused across route edits');
    const picker = match(holder, '/o')!.upstream!.picker;
    store.putSync('/apisix/routes/c', { uri: '/c2', plugins: { 't-rt': { n: 2 } }, upstream: { nodes: { 'a:1': 1 } } });
    void holder.current;
    assert.deepEqual(made, ['/apisix/routes/c:1', '/apisix/routes/c:2']);
    assert.deepEqual(destroyed, ['/apisix/routes/c:1']);
    assert.equal(match(holder, '/o')!.upstream!.picker, picker, 'balancer state kept across unrelated changes');
    assert.match(envSeen.at(-1)!.confHash, /^[0-9a-f]{40}$/);
  } finally {
    holder.close();
  }
  assert.deepEqual(destroyed, ['/apisix/routes/c:1', '/apisix/routes/c:2']);
});

test('R-KA-2 R-KA-4 R-KA-9 consumer index: consumer and credential keys, first item key wins, consumer plugins compiled', () => {
  const { holder } = holderWith({
    '/apisix/consumers/bob': { username: 'bob', plugins: { 'key-auth': { key: 'shared' }, 't-rt': { n: 3 } } },
    '/apisix/consumers/alice': { username: 'alice', labels: { custom_id: 'a1' } },
    '/apisix/consumers/alice/credentials/c1': { plugins: { 'key-auth': { key: 'shared' } } },
    '/apisix/consumers/alice/credentials/c2': { plugins: { 'key-auth': { key: 'alice-2' } } },
  });
  try {
    const idx = holder.current.consumers;
    const shared = idx.findByKey('shared')!;
    assert.equal(shared.username, 'alice', '/apisix/consumers/alice/credentials/c1 sorts before /apisix/consumers/bob');
    assert.equal(shared.credentialId, 'c1');
    const a2 = idx.findByKey('alice-2')!;
    assert.equal(a2.credentialId, 'c2');
    assert.equal(a2.labels?.custom_id, 'a1');
    assert.equal(idx.findByKey('nope'), undefined);
    const bob = idx.findByName('bob')!;
    assert.deepEqual(bob.plugins.map((p) => p.def.name), ['t-rt'], 'auth plugins are not merged');
    assert.equal(bob.plugins[0]!.origin, 'consumer');
    assert.equal(bob.plugins[0]!.parentKey, '/apisix/consumers/bob');
  } finally {
    holder.close();
  }
});

test('a plugin configuration that fails to compile is logged and its route answers 503', () => {
  const { holder, log } = holderWith({
    '/apisix/routes/bad': { uri: '/bad', plugins: { 't-rt': { n: 'x' } }, upstream: { nodes: { 'a:1': 1 } } },
    '/apisix/routes/badvars': { uri: '/bv', vars: [['a', 'bogus', 1]], upstream: { nodes: { 'a:1': 1 } } },
    '/apisix/routes/good': { uri: '/good', upstream: { nodes: { 'a:1': 1 } } },
  });
  try {
    assert.equal(match(holder, '/bad')!.broken!.status, 503);
    assert.equal(match(holder, '/bv')!.broken!.status, 503);
    assert.equal(match(holder, '/good')!.broken, undefined);
    assert.ok(log.lines.some((l) => l.includes('failed to check the configuration of plugin t-rt err:')));
    assert.ok(log.lines.some((l) => l.includes("invalid operator 'bogus'")));
  } finally {
    holder.close();
  }
});

test('R-RES-9 R-UPS-4 R-UPS-6 upstream compilation: node forms, default ports, timeouts, retries', () => {
  const a = compileUpstream({ nodes: { 'a.example:8080': 2, 'b.example': 1, '[::1]:9000': 1, 'zero:1': 0 } });
  const prio = compileUpstream({ nodes: [{ host: 'low', port: 1, weight: 1, priority: -1 }, { host: 'high', port: 1, weight: 1, priority: 10 }] });
  assert.equal(prio.picker.pick(new Set()), 1, 'the higher priority node first');
  assert.equal(prio.picker.pick(new Set([1])), 0, 'then the lower one');
  assert.equal(prio.picker.pick(new Set([0, 1])), undefined);
  assert.deepEqual(a.nodes.map((n) => [n.host, n.port, n.weight, n.addr, n.hostHeader]), [
    ['a.example', 8080, 2, 'a.example:8080', 'a.example:8080'],
    ['b.example', 80, 1, 'b.example:80', 'b.example'],
    ['::1', 9000, 1, '[::1]:9000', '[::1]:9000'],
  ]);
  assert.equal(a.retries, 2);
  assert.deepEqual(a.timeout, { connect: 60000, send: 60000, read: 60000 });
  assert.equal(a.passHost, 'pass');
  const b = compileUpstream({ scheme: 'https', nodes: [{ host: 'secure', port: 443, weight: 1 }], timeout: { connect: 1, send: 2, read: 0.5 }, retries: 0, pass_host: 'node' });
  assert.equal(b.nodes[0]!.hostHeader, 'secure');
  assert.deepEqual(b.timeout, { connect: 1000, send: 2000, read: 500 });
  assert.equal(b.retries, 0);
  const c = compileUpstream({ type: 'chash', hash_on: 'header', key: 'X-User', nodes: { 'a:1': 1, 'b:1': 1 } });
  const k = c.hashKey!({ getVar: (n: string) => (n === 'http_x_user' ? 'u1' : undefined) } as any);
  assert.equal(k, 'u1');
});
