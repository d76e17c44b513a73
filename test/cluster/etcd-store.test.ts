// EtcdStore against a real etcd (R-GEN-16, CONTRACT: etcd down -> writes 503 quickly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/store/etcd.js';
import { StoreUnavailableError, type ChangeEvent } from '../../src/store/types.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { startEtcd, type EtcdProcess } from '../helpers/etcd.js';
import { until } from '../helpers/wait.js';

function config(url: string, prefix: string): GatewayConfig {
  return {
    deployment: { config_provider: 'etcd', etcd: { host: [url], prefix, timeout: 30 } },
  } as unknown as GatewayConfig;
}

let etcd: EtcdProcess;
test.before(async () => {
  etcd = await startEtcd();
});
test.after(async () => {
  await etcd?.close();
});

test('R-GEN-16: APISIX key layout, JSON values, etcd revisions as indexes, POST ids from revisions', async (t) => {
  const store = new EtcdStore(config(etcd.url, '/layout'));
  t.after(() => store.close());
  await store.open();
  const raw = new Etcd3({ hosts: etcd.url });
  t.after(() => raw.close());

  const a = await store.put('/apisix/routes/1', { id: '1', uri: '/a' });
  assert.ok(a.createdIndex > 0);
  assert.equal(a.createdIndex, a.modifiedIndex);
  assert.deepEqual(JSON.parse((await raw.get('/layout/routes/1').string())!), { id: '1', uri: '/a' });
  const b = await store.put('/apisix/routes/1', { id: '1', uri: '/b' });
  assert.equal(b.createdIndex, a.createdIndex);
  assert.ok(b.modifiedIndex > a.modifiedIndex);
  await store.put('/apisix/consumers/jack', { username: 'jack' });
  await store.put('/apisix/consumers/jack/credentials/c1', { id: 'c1', plugins: { 'key-auth': { key: 'k' } } });
  assert.ok(await raw.get('/layout/consumers/jack/credentials/c1').string());
  // visible in the snapshot and the lists as soon as put() resolved
  assert.deepEqual(store.snapshot().get('/apisix/routes/1')?.value, { id: '1', uri: '/b' });
  assert.deepEqual((await store.list('/apisix/consumers/')).map((i) => i.key), [
    '/apisix/consumers/jack',
    '/apisix/consumers/jack/credentials/c1',
  ]);

  const id1 = await store.nextId();
  const id2 = await store.nextId();
  assert.match(id1, /^\d{20}$/);
  assert.ok(id2 > id1);

  assert.deepEqual(await store.delete(['/apisix/consumers/jack', '/apisix/consumers/jack/credentials/c1', '/apisix/consumers/nobody']), [
    '/apisix/consumers/jack',
    '/apisix/consumers/jack/credentials/c1',
  ]);
  assert.equal(await raw.get('/layout/consumers/jack').string(), null);
  assert.equal(store.snapshot().has('/apisix/consumers/jack'), false);
  // gen_id is not an item
  assert.equal([...store.snapshot().keys()].some((k) => k.includes('gen_id')), false);
});

test('R-GEN-16: changes by another node or tool are applied within 1 s (watch)', async (t) => {
  const a = new EtcdStore(config(etcd.url, '/watch'));
  const b = new EtcdStore(config(etcd.url, '/watch'));
  t.after(async () => {
    await a.close();
    await b.close();
  });
  await a.open();
  await b.open();
  const events: ChangeEvent[] = [];
  b.onChange((ev) => events.push(ev));

  await a.put('/apisix/services/s1', { id: 's1', name: 'svc' });
  const ms = await until(() => b.snapshot().has('/apisix/services/s1'), 1000, 'the put on node b');
  assert.ok(ms < 1000);
  assert.equal(events.at(-1)?.type, 'put');
  assert.equal(b.snapshot().get('/apisix/services/s1')!.modifiedIndex, a.snapshot().get('/apisix/services/s1')!.modifiedIndex);

  // another tool writing APISIX's layout directly
  const raw = new Etcd3({ hosts: etcd.url });
  t.after(() => raw.close());
  await raw.put('/watch/routes/r9').value(JSON.stringify({ id: 'r9', uri: '/x', service_id: 's1' }));
  await until(() => a.snapshot().has('/apisix/routes/r9') && b.snapshot().has('/apisix/routes/r9'), 1000, 'the external put');
  await raw.put('/watch/routes/bad').value('not json');
  await raw.put('/watch/unrelated/thing').value('{}');

  await a.delete(['/apisix/routes/r9']);
  await until(() => !b.snapshot().has('/apisix/routes/r9'), 1000, 'the delete on node b');
  const del = events.find((e) => e.type === 'delete');
  assert.ok(del && del.type === 'delete' && del.key === '/apisix/routes/r9');
  assert.equal(b.snapshot().has('/apisix/routes/bad'), false);
  assert.equal([...b.snapshot().keys()].some((k) => k.includes('unrelated')), false);
});

test('R-ADM-12, R-GEN-16: ttl is an etcd lease; the expired item disappears everywhere', async (t) => {
  const a = new EtcdStore(config(etcd.url, '/ttl'));
  const b = new EtcdStore(config(etcd.url, '/ttl'));
  t.after(async () => {
    await a.close();
    await b.close();
  });
  await a.open();
  await b.open();
  await a.put('/apisix/routes/tmp', { id: 'tmp', uri: '/tmp' }, { ttl: 1 });
  await until(() => b.snapshot().has('/apisix/routes/tmp'), 1000, 'the put');
  await until(() => !a.snapshot().has('/apisix/routes/tmp') && !b.snapshot().has('/apisix/routes/tmp'), 5000, 'the lease to expire');
});

test('CONTRACT, R-GEN-16: etcd down -> reads keep the snapshot, writes reject fast; etcd back -> reset and writes work', async (t) => {
  const a = new EtcdStore(config(etcd.url, '/down'));
  const b = new EtcdStore(config(etcd.url, '/down'));
  t.after(async () => {
    await a.close();
    await b.close();
  });
  await a.open();
  await b.open();
  await a.put('/apisix/routes/1', { id: '1', uri: '/kept' });
  await until(() => b.snapshot().has('/apisix/routes/1'), 1000, 'the put');
  const resets: number[] = [];
  b.onChange((ev) => ev.type === 'reset' && resets.push(Date.now()));

  await etcd.stop('SIGKILL');
  try {
    const started = Date.now();
    await assert.rejects(a.put('/apisix/routes/2', { id: '2', uri: '/x' }), StoreUnavailableError);
    assert.ok(Date.now() - started < 5000, `write took ${Date.now() - started} ms`);
    const s2 = Date.now();
    await assert.rejects(a.nextId(), StoreUnavailableError);
    await assert.rejects(a.delete(['/apisix/routes/1']), StoreUnavailableError);
    assert.ok(Date.now() - s2 < 10_000);
    assert.deepEqual((await a.get('/apisix/routes/1'))?.value, { id: '1', uri: '/kept' });
    assert.equal((await b.list('/apisix/routes/')).length, 1);
  } finally {
    await etcd.start();
  }
  await until(() => resets.length > 0, 5000, 'the resync after etcd came back');
  // writes work again and reach the other node
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    try {
      await a.put('/apisix/routes/3', { id: '3', uri: '/after' });
      ok = true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(ok, 'a write succeeds after etcd is back');
  await until(() => b.snapshot().has('/apisix/routes/3'), 1000, 'the put after reconnect on node b');
  assert.ok(b.snapshot().has('/apisix/routes/1'));
});

test('R-GEN-16: etcd replaced by an empty one (revisions start again): the nodes converge on its content', async (t) => {
  const a = new EtcdStore(config(etcd.url, '/wiped'));
  const b = new EtcdStore(config(etcd.url, '/wiped'));
  t.after(async () => {
    await a.close();
    await b.close();
  });
  await a.open();
  await b.open();
  for (let i = 0; i < 5; i++) await a.put(`/apisix/routes/old${i}`, { id: `old${i}`, uri: '/old' });
  await until(() => b.snapshot().size === 5, 1000, 'the puts');
  const { rmSync } = await import('node:fs');
  const path = await import('node:path');
  await etcd.stop('SIGKILL');
  rmSync(path.join(etcd.dataDir, 'data'), { recursive: true, force: true });
  await etcd.start();
  await until(() => a.snapshot().size === 0 && b.snapshot().size === 0, 5000, 'the resync to the empty etcd');
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    try {
      await a.put('/apisix/routes/new', { id: 'new', uri: '/new' });
      ok = true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(ok);
  await until(() => b.snapshot().has('/apisix/routes/new'), 1000, 'a write to the new etcd on the other node');
  assert.equal(b.snapshot().get('/apisix/routes/new')!.createdIndex, a.snapshot().get('/apisix/routes/new')!.createdIndex);
});
