// The embedded store (R-GEN-15, R-ADM-12, R-ADM-17, R-ADM-20/23 ordering and revisions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JOURNAL_FILE, LOCK_FILE, LocalStore, SNAPSHOT_FILE } from '../../src/store/local.js';
import type { ChangeEvent } from '../../src/store/types.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function opened(dir: string, opts?: ConstructorParameters<typeof LocalStore>[1]): Promise<LocalStore> {
  const s = new LocalStore(dir, opts);
  await s.open();
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('R-GEN-15 R-ADM-23 put/get/list: list is by key prefix, ascending byte-wise', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  for (const id of ['2', '10', '1', 'b', 'B']) await s.put(`/apisix/routes/${id}`, { id });
  await s.put('/apisix/services/1', { id: '1' });
  await s.put('/apisix/consumers/jack', { username: 'jack' });
  await s.put('/apisix/consumers/jack/credentials/c1', { id: 'c1' });
  const routes = await s.list('/apisix/routes/');
  assert.deepEqual(routes.map((i) => i.key), ['/apisix/routes/1', '/apisix/routes/10', '/apisix/routes/2', '/apisix/routes/B', '/apisix/routes/b']);
  assert.deepEqual((await s.get('/apisix/routes/10'))?.value, { id: '10' });
  assert.equal(await s.get('/apisix/routes/404'), undefined);
  assert.deepEqual((await s.list('/apisix/consumers/')).map((i) => i.key), ['/apisix/consumers/jack', '/apisix/consumers/jack/credentials/c1']);
  assert.deepEqual(await s.list('/apisix/upstreams/'), []);
  assert.equal(s.snapshot().size, 8);
});

test('R-ADM-20 revisions: one store-wide counter; createdIndex kept on replace, modifiedIndex bumped; deletes count', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  const a = await s.put('/apisix/routes/1', { v: 1 });
  assert.equal(a.createdIndex, 1);
  assert.equal(a.modifiedIndex, 1);
  const b = await s.put('/apisix/routes/2', { v: 1 });
  assert.deepEqual([b.createdIndex, b.modifiedIndex], [2, 2]);
  const a2 = await s.put('/apisix/routes/1', { v: 2 });
  assert.deepEqual([a2.createdIndex, a2.modifiedIndex], [1, 3]);
  assert.deepEqual(await s.delete(['/apisix/routes/2', '/apisix/routes/nope']), ['/apisix/routes/2']);
  assert.deepEqual(await s.delete(['/apisix/routes/nope']), []);
  const c = await s.put('/apisix/routes/3', {});
  assert.deepEqual([c.createdIndex, c.modifiedIndex], [5, 5], 'the delete used revision 4, the no-op delete none');
  assert.equal(s.currentRevision, 5);
});

test('R-GEN-15 delete of several keys is one change, listed keys are the ones that existed', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  await s.put('/apisix/consumers/jack', {});
  await s.put('/apisix/consumers/jack/credentials/a', {});
  const events: ChangeEvent[] = [];
  s.onChange((ev) => events.push(ev));
  const gone = await s.delete(['/apisix/consumers/jack/credentials/a', '/apisix/consumers/jack', '/apisix/consumers/jack/credentials/x']);
  assert.deepEqual(gone, ['/apisix/consumers/jack/credentials/a', '/apisix/consumers/jack']);
  assert.deepEqual(events, [
    { type: 'delete', key: '/apisix/consumers/jack/credentials/a', revision: 3 },
    { type: 'delete', key: '/apisix/consumers/jack', revision: 3 },
  ]);
  assert.equal(s.snapshot().size, 0);
});

test('R-GEN-10 onChange: listeners run synchronously after the change is in snapshot(), before put() resolves', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  const seen: string[] = [];
  let resolved = false;
  const off = s.onChange((ev) => {
    assert.equal(resolved, false);
    if (ev.type === 'put') {
      assert.equal(s.snapshot().get(ev.item.key), ev.item);
      seen.push(`put ${ev.item.key} ${ev.item.modifiedIndex}`);
    }
  });
  const p = s.put('/apisix/routes/1', { a: 1 }).then(() => (resolved = true));
  await p;
  assert.deepEqual(seen, ['put /apisix/routes/1 1']);
  off();
  await s.put('/apisix/routes/2', {});
  assert.equal(seen.length, 1, 'unsubscribed');
  // a throwing listener does not fail the write
  s.onChange(() => { throw new Error('boom'); });
  assert.equal((await s.put('/apisix/routes/3', {})).modifiedIndex, 3);
});

test('R-GEN-11 the stored value is a private copy', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  const v = { uri: '/a', plugins: { x: { n: 1 } } };
  await s.put('/apisix/routes/1', v);
  v.plugins.x.n = 2;
  assert.deepEqual((await s.get('/apisix/routes/1'))?.value, { uri: '/a', plugins: { x: { n: 1 } } });
});

test('R-GEN-15 concurrent writes are serialized: distinct revisions, all present', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  const items = await Promise.all(Array.from({ length: 40 }, (_, i) => s.put(`/apisix/routes/${i}`, { i })));
  const ids = await Promise.all(Array.from({ length: 10 }, () => s.nextId()));
  assert.deepEqual(items.map((i) => i.modifiedIndex), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.equal(new Set(ids).size, 10);
  assert.deepEqual([...ids].sort(), ids, 'ids are handed out in call order');
});

test('R-GEN-15 group commit: writes queued while one is being synced share one append, in call order', async (t) => {
  const dir = tempDir(t);
  const s = await opened(dir);
  t.after(() => s.close());
  await s.put('/apisix/routes/x', { v: 0 });
  const order: string[] = [];
  s.onChange((ev) => order.push(ev.type === 'put' ? `put ${ev.item.key} ${JSON.stringify(ev.item.value)}` : ev.type === 'delete' ? `del ${ev.key}` : 'reset'));
  const results = await Promise.all([
    s.put('/apisix/routes/x', { v: 1 }),
    s.delete(['/apisix/routes/x']),
    s.put('/apisix/routes/x', { v: 2 }),
    s.nextId(),
    s.delete(['/apisix/routes/nope']),
    s.put('/apisix/routes/y', { v: 3 }),
  ]);
  assert.deepEqual(order, ['put /apisix/routes/x {"v":1}', 'del /apisix/routes/x', 'put /apisix/routes/x {"v":2}', 'put /apisix/routes/y {"v":3}']);
  const [p1, d1, p2, id, d2, p3] = results as [any, string[], any, string, string[], any];
  assert.deepEqual([p1.createdIndex, p1.modifiedIndex, p1.value], [1, 2, { v: 1 }], 'each put resolves to its own item');
  assert.deepEqual(d1, ['/apisix/routes/x']);
  assert.deepEqual([p2.createdIndex, p2.modifiedIndex], [4, 4], 'recreated after the delete');
  assert.equal(id, '00000000000000000001');
  assert.deepEqual(d2, []);
  assert.equal(p3.modifiedIndex, 5);
  await s.close();
  const again = await opened(dir);
  t.after(() => again.close());
  assert.deepEqual((await again.get('/apisix/routes/x'))?.value, { v: 2 });
  assert.equal(again.currentRevision, 5);
});

test('R-ADM-17 R-GEN-15 nextId: 20 digits, zero-padded, strictly increasing, persistent across restarts', async (t) => {
  const dir = tempDir(t);
  let s = await opened(dir);
  assert.equal(await s.nextId(), '00000000000000000001');
  assert.equal(await s.nextId(), '00000000000000000002');
  await s.close();
  s = await opened(dir);
  assert.equal(await s.nextId(), '00000000000000000003');
  await s.close();
  // also when the process died before any compaction (journal only)
  s = await opened(dir);
  await s.nextId();
  const crashed = s; // not closed: simulates a crash (same process, so the lock is not held against us)
  s = await opened(dir);
  assert.equal(await s.nextId(), '00000000000000000005');
  await s.close();
  await crashed.close();
});

test('R-GEN-15 reopen: items, revisions and ids survive close, crash (journal only) and compaction', async (t) => {
  const dir = tempDir(t);
  let s = await opened(dir, { compactEvery: 7 });
  for (let i = 0; i < 20; i++) await s.put(`/apisix/routes/${i % 8}`, { i });
  await s.delete(['/apisix/routes/3']);
  const before = new Map([...s.snapshot()].map(([k, v]) => [k, { ...v }]));
  const rev = s.currentRevision;
  await s.close();
  s = await opened(dir);
  assert.deepEqual(new Map([...s.snapshot()].map(([k, v]) => [k, { ...v }])), before);
  assert.equal(s.currentRevision, rev);
  const next = await s.put('/apisix/routes/0', { again: true });
  assert.equal(next.createdIndex, before.get('/apisix/routes/0')!.createdIndex);
  assert.equal(next.modifiedIndex, rev + 1);
  // crash: no close, journal not compacted
  await s.put('/apisix/routes/9', { late: true });
  s = await opened(dir);
  assert.deepEqual((await s.get('/apisix/routes/9'))?.value, { late: true });
  assert.equal(s.currentRevision, rev + 2);
  await s.close();
});

test('R-GEN-15 a torn last journal line (interrupted write) is dropped; a corrupt earlier line refuses to load', async (t) => {
  const dir = tempDir(t);
  let s = await opened(dir);
  await s.put('/apisix/routes/1', { ok: 1 });
  await s.put('/apisix/routes/2', { ok: 2 });
  appendFileSync(path.join(dir, JOURNAL_FILE), '{"op":"put","key":"/apisix/routes/3","val');
  s = await opened(dir);
  assert.deepEqual([...s.snapshot().keys()], ['/apisix/routes/1', '/apisix/routes/2']);
  assert.equal((await s.put('/apisix/routes/3', { ok: 3 })).modifiedIndex, 3);
  await s.close();
  s = await opened(dir);
  assert.equal(s.snapshot().size, 3);
  await s.put('/apisix/routes/4', {});
  // corrupt a line in the middle of the journal
  const jf = path.join(dir, JOURNAL_FILE);
  writeFileSync(jf, 'garbage\n' + readFileSync(jf, 'utf8'));
  await assert.rejects(new LocalStore(dir).open(), /corrupt record at line 1/);
});

test('R-GEN-15 the snapshot is written atomically and the journal emptied on compaction', async (t) => {
  const dir = tempDir(t);
  const s = await opened(dir, { compactEvery: 3 });
  t.after(() => s.close());
  await s.put('/apisix/routes/1', {});
  await s.put('/apisix/routes/2', {});
  assert.equal(readFileSync(path.join(dir, JOURNAL_FILE), 'utf8').split('\n').filter(Boolean).length, 2);
  await s.put('/apisix/routes/3', {});
  await s.close(); // compaction runs after the write is acknowledged; close waits for it
  assert.equal(readFileSync(path.join(dir, JOURNAL_FILE), 'utf8'), '');
  const snap = JSON.parse(readFileSync(path.join(dir, SNAPSHOT_FILE), 'utf8'));
  assert.equal(snap.revision, 3);
  assert.equal(snap.items.length, 3);
});

test('R-ADM-12 ttl: the item is deleted ttl seconds after the write (change event), a later put without ttl keeps it', async (t) => {
  const s = await opened(tempDir(t));
  t.after(() => s.close());
  const events: ChangeEvent[] = [];
  s.onChange((ev) => events.push(ev));
  await s.put('/apisix/routes/short', {}, { ttl: 0.2 });
  await s.put('/apisix/routes/kept', {}, { ttl: 0.2 });
  await s.put('/apisix/routes/kept', {});
  await s.put('/apisix/routes/long', {}, { ttl: 60 });
  assert.ok(await s.get('/apisix/routes/short'));
  const deadline = Date.now() + 3000;
  while (s.snapshot().has('/apisix/routes/short') && Date.now() < deadline) await sleep(20);
  assert.equal(s.snapshot().has('/apisix/routes/short'), false);
  assert.ok(s.snapshot().has('/apisix/routes/kept'));
  assert.ok(s.snapshot().has('/apisix/routes/long'));
  assert.ok(events.some((e) => e.type === 'delete' && e.key === '/apisix/routes/short'));
});

test('R-ADM-12 ttl survives a restart: pending expiries still happen, past ones are gone at open', async (t) => {
  const dir = tempDir(t);
  let s = await opened(dir);
  await s.put('/apisix/routes/a', {}, { ttl: 0.3 });
  await s.put('/apisix/routes/b', {}, { ttl: 1.2 });
  await s.put('/apisix/routes/c', {});
  await s.close();
  await sleep(400);
  s = await opened(dir);
  t.after(() => s.close());
  assert.deepEqual([...s.snapshot().keys()].sort(), ['/apisix/routes/b', '/apisix/routes/c']);
  const deadline = Date.now() + 3000;
  while (s.snapshot().has('/apisix/routes/b') && Date.now() < deadline) await sleep(25);
  assert.deepEqual([...s.snapshot().keys()], ['/apisix/routes/c']);
});

test('R-GEN-15 a data_dir in use by another live process is refused; a stale lock is taken over', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  writeFileSync(path.join(dir, LOCK_FILE), `${child.pid}\n`);
  await assert.rejects(new LocalStore(dir).open(), /in use by process/);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const s = await opened(dir);
  assert.equal(readFileSync(path.join(dir, LOCK_FILE), 'utf8').trim(), String(process.pid));
  await s.close();
  assert.throws(() => readFileSync(path.join(dir, LOCK_FILE)), /ENOENT/);
});

test('R-GEN-15 writes after close are rejected', async (t) => {
  const s = await opened(tempDir(t));
  await s.close();
  await assert.rejects(s.put('/apisix/routes/1', {}), /closed/);
});
