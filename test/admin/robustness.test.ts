import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin, dump } from './harness.js';
import { LocalStore } from '../../src/store/local.js';
import { StoreUnavailableError, type ConfigStore } from '../../src/store/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const up = { nodes: { '127.0.0.1:1980': 1 } };

/** deterministic PRNG (mulberry32) */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function wrapStore(inner: ConfigStore, put: ConfigStore['put']): ConfigStore {
  return new Proxy(inner, {
    get(target, prop, recv) {
      if (prop === 'put') return put;
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

test('CONTRACT R-GEN-16 store unavailable: writes answer 503 with error_msg, reads still work', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-admin-store-'));
  const inner = new LocalStore(dir);
  const store = wrapStore(inner, async () => {
    throw new StoreUnavailableError('etcd unreachable: connect ECONNREFUSED');
  });
  const h = await startAdmin({ store });
  t.after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const r = await h.call('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: up });
  assert.equal(r.status, 503);
  assert.deepEqual(r.body, { error_msg: 'etcd unreachable: connect ECONNREFUSED' });
  assert.equal((await h.call('GET', '/apisix/admin/routes')).status, 200);
});

test('CONTRACT R-GEN-16 a hanging store write answers 503 within 5 seconds', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-admin-store-'));
  const inner = new LocalStore(dir);
  const store = wrapStore(inner, () => new Promise(() => undefined));
  const h = await startAdmin({ store });
  t.after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const t0 = Date.now();
  const r = await h.call('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: up });
  const took = Date.now() - t0;
  assert.equal(r.status, 503);
  assert.equal(typeof r.body.error_msg, 'string');
  assert.ok(took < 5000, `took ${took} ms`);
});

test('R-GEN-11 R-ADM-10 a few hundred generated bad writes leave the store unchanged and the server answering', async (t) => {
  const h = await startAdmin();
  t.after(() => h.close());
  // some content to protect
  await h.call('PUT', '/apisix/admin/upstreams/u1', up);
  await h.call('PUT', '/apisix/admin/services/s1', { upstream_id: 'u1' });
  await h.call('PUT', '/apisix/admin/routes/r1', { uri: '/a', service_id: 's1', plugins: { 'key-auth': {} } });
  await h.call('PUT', '/apisix/admin/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'k' } } });
  await h.call('PUT', '/apisix/admin/consumers/jack/credentials/c1', { plugins: { 'key-auth': { key: 'k1' } } });
  await h.call('PUT', '/apisix/admin/global_rules/g1', { plugins: { prometheus: {} } });
  const before = dump(h.store);

  const rand = rng(42);
  const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)]!;
  const junk = (): unknown => pick<unknown>([true, 0, -1, 1.5, '', 'x', [], [1], 'a'.repeat(5000)]);
  const valid: Record<string, () => Record<string, unknown>> = {
    routes: () => ({ uri: '/x', upstream: up, plugins: { 'key-auth': {} } }),
    services: () => ({ upstream: up, plugins: { 'key-auth': {} } }),
    upstreams: () => ({ ...up }),
    consumers: () => ({ username: 'jack', plugins: { 'key-auth': { key: 'k' } } }),
    global_rules: () => ({ plugins: { prometheus: {} } }),
  };
  const paths: Record<string, string> = {
    routes: '/apisix/admin/routes/r1',
    services: '/apisix/admin/services/s1',
    upstreams: '/apisix/admin/upstreams/u1',
    consumers: '/apisix/admin/consumers/jack',
    global_rules: '/apisix/admin/global_rules/g1',
  };
  const kinds = Object.keys(valid);
  let sent = 0;
  const statuses = new Map<number, number>();
  const expectReject = async (method: string, p: string, body: string, what: string) => {
    const r = await fetch(h.url + p, { method, headers: { 'X-API-KEY': 'admin-key-0123456789abcdef' }, body });
    await r.text();
    sent++;
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    assert.ok(r.status >= 400 && r.status < 500, `${what}: ${method} ${p} ${body.slice(0, 200)} -> ${r.status}`);
  };

  for (let i = 0; i < 280; i++) {
    const kind = pick(kinds);
    const p = paths[kind]!;
    const method = kind === 'consumers' ? 'PUT' : pick(['PUT', 'PATCH']);
    const mode = i % 4;
    if (mode === 0) {
      // broken JSON: truncated or with a structural character replaced
      const text = JSON.stringify(valid[kind]!());
      let broken = rand() < 0.5 ? text.slice(0, 1 + Math.floor(rand() * (text.length - 2))) : text.replace(pick([':', ',', '}', '"']), pick(['', '#', ']', ';']));
      if (broken === text) broken = text + '}';
      try {
        JSON.parse(broken);
        continue;
      } catch {
        /* invalid, as intended */
      }
      await expectReject(method, p, broken, 'broken JSON');
    } else if (mode === 1) {
      // a wrong type (or out-of-range value) somewhere in a valid body
      const v = valid[kind]!();
      const common: Array<[string, unknown[]]> = [
        ['desc', [1, true, [], 'x'.repeat(300)]],
        ['labels', [1, 'x', [], { a: 1 }, { a: '' }, { a: 'b c' }]],
        ['plugins', [1, 'x', [], true]],
      ];
      const specific: Record<string, Array<[string, unknown[]]>> = {
        routes: [['uri', [1, true, [], '']], ['upstream', [1, 'x', []]], ['methods', ['GET', ['FETCH'], [1]]], ['priority', ['1', 1.5]], ['name', ['', 1]], ['status', [2, '1']]],
        services: [['upstream', [1, 'x', []]], ['hosts', [[], 'x', [1]]], ['name', ['', 1]], ['enable_websocket', [1, 'yes']]],
        upstreams: [['nodes', [1, 'x', true]], ['retries', [-1, 'x', 1.5]], ['type', ['x', 1]], ['scheme', ['ftp']], ['pass_host', ['x']]],
        consumers: [['username', [1, '', 'a b', [], 'x'.repeat(300)]]],
        global_rules: [['plugins', [1, 'x', [], true]]],
      };
      const [k, values] = pick([...common.filter(([c]) => !(kind === 'upstreams' && c === 'plugins')), ...specific[kind]!]);
      if (kind === 'upstreams' && k === 'plugins') continue;
      v[k] = pick(values);
      await expectReject(method, p, JSON.stringify(v), 'wrong type');
    } else if (mode === 2) {
      // unknown plugins and broken plugin configurations
      const v = valid[kind]!();
      v.plugins = pick<Record<string, unknown>>([
        { [`no-such-plugin-${i}`]: {} },
        { 'key-auth': pick<unknown>(['x', 7, [], true]) },
        { 'ai-proxy-multi': { instances: junk() } },
        { 'ai-rate-limiting': { limit: 'lots' } },
        { 'key-auth': { _meta: { pre_function: 'os.exit()' } } },
        { 'key-auth': { _meta: { priority: 'high' } } },
      ]);
      await expectReject(method, p, JSON.stringify(v), 'bad plugin');
    } else {
      // non-object bodies, deep nesting, odd bytes, sometimes oversized
      const body = pick([
        '[]', '"str"', '123', 'true', '[' .repeat(2000) + ']'.repeat(2000), '{"a":' + '{"a":'.repeat(1500) + '1' + '}'.repeat(1501),
        '\xff\xfe', '{"uri":"/a","upstream":' + JSON.stringify(up) + ',"x":1}',
        i % 40 === 3 ? JSON.stringify({ uri: '/a', desc: 'x'.repeat(1_600_000) }) : '{}',
      ]);
      if (method === 'PATCH' && body === '{}') continue;
      await expectReject(method, p, body, 'odd body');
    }
  }
  assert.ok(sent > 200, `sent ${sent}`);
  assert.equal(dump(h.store), before, 'store unchanged');
  const r = await h.call('GET', '/apisix/admin/routes/r1');
  assert.equal(r.status, 200);
  assert.equal((await h.call('PUT', '/apisix/admin/routes/r2', { uri: '/b', upstream: up })).status, 201);
  assert.ok(!statuses.has(500), JSON.stringify([...statuses]));
});
