// Issue 16 item 3 at the store level (R-GEN-15): the local store on a full or
// read-only disk (a real 64 KiB tmpfs). A write that could not be made
// durable is rejected and never appears; a failed snapshot fold leaves no
// store.json.tmp and is retried only after another compact_every records; an
// unwritable data directory still opens, serving what it holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { LocalStore, SNAPSHOT_TMP } from '../../src/store/local.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { mountTmpfs, skipReason } from '../helpers/tmpfs.js';

/** error-log lines written while `fn` runs */
async function captureLog(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const orig = process.stderr.write;
  process.stderr.write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
    lines.push(String(chunk));
    return (orig as Function).call(process.stderr, chunk, ...rest);
  } as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = orig;
  }
  return lines;
}

test('R-GEN-15 disk full: the write is rejected and absent after reopening; a failed fold leaves no temp file and waits compact_every records', async (t) => {
  const fs = mountTmpfs();
  if (!fs) return t.skip(skipReason);
  const dir = path.join(fs.dir, 'data');
  let store = new LocalStore(dir, { compactEvery: 3 });
  t.after(async () => {
    await store.close();
    fs.unmount();
  });
  await store.open();
  await store.put('/apisix/routes/before', { uri: '/before' });

  fs.fill();
  await assert.rejects(store.put('/apisix/routes/lost', { uri: '/lost', desc: 'x'.repeat(8192) }), (err: Error) => {
    assert.ok(err instanceof StoreUnavailableError, `a StoreUnavailableError (Admin API 503), got ${err.name}`);
    assert.match(err.message, /ENOSPC|no space/i);
    return true;
  });
  assert.equal(await store.get('/apisix/routes/lost'), undefined, 'a rejected write is not served');
  await store.close();
  store = new LocalStore(dir, { compactEvery: 3 });
  await store.open();
  assert.equal(await store.get('/apisix/routes/lost'), undefined, 'a rejected write is not on disk');
  assert.ok(await store.get('/apisix/routes/before'));

  // one free page: the journal's small records fit, a two-page snapshot does not
  fs.unfill();
  await store.close();
  store = new LocalStore(dir, { compactEvery: 3 });
  await store.open(); // folds the journal while there is room
  const big = { uri: '/big', desc: 'y'.repeat(5000) };
  await store.put('/apisix/routes/big', big);
  fs.fill(4096);
  const logged = await captureLog(async () => {
    for (let i = 0; i < 8; i++) await store.put(`/apisix/routes/s${i}`, { uri: `/s${i}` }).catch(() => {});
    // a write resolves before the fold that follows it: queue one more to wait for that fold
    await store.delete(['/apisix/routes/none']);
  });
  const failedFolds = logged.filter((l) => l.includes('store compaction failed')).length;
  // records 3, 6 and 9 of the journal try a fold; retrying after every write would be 7 attempts
  assert.ok(failedFolds >= 2, `folds were tried and failed:\n${logged.join('')}`);
  assert.ok(failedFolds <= 3, `a failed fold is not retried after every write (${failedFolds} attempts for 8 writes)`);
  assert.ok(!existsSync(path.join(dir, SNAPSHOT_TMP)), `no ${SNAPSHOT_TMP} is left: ${readdirSync(dir).join(', ')}`);

  // what was acknowledged is there after a restart with room again
  const acked: string[] = [];
  for (let i = 0; i < 8; i++) if (await store.get(`/apisix/routes/s${i}`)) acked.push(`s${i}`);
  fs.unfill();
  await store.close();
  store = new LocalStore(dir, { compactEvery: 3 });
  await store.open();
  for (const id of acked) assert.ok(await store.get(`/apisix/routes/${id}`), `acknowledged ${id} survives`);
  for (let i = 0; i < 8; i++) if (!acked.includes(`s${i}`)) assert.equal(await store.get(`/apisix/routes/s${i}`), undefined);
  assert.deepEqual((await store.get('/apisix/routes/big'))?.value, big);
});

test('R-GEN-15 read-only data directory: the store opens and serves, writes are rejected, and work again once writable', async (t) => {
  const fs = mountTmpfs();
  if (!fs) return t.skip(skipReason);
  const dir = path.join(fs.dir, 'data');
  let store = new LocalStore(dir);
  t.after(async () => {
    await store.close();
    fs.unmount();
  });
  await store.open();
  await store.put('/apisix/routes/1', { uri: '/one' });
  await store.close();

  fs.remount('ro');
  store = new LocalStore(dir);
  const logged = await captureLog(() => store.open());
  assert.match(logged.join(''), /not writable, serving what it holds/);
  assert.deepEqual((await store.get('/apisix/routes/1'))?.value, { uri: '/one' });
  await assert.rejects(store.put('/apisix/routes/2', { uri: '/two' }), (err: Error) => {
    assert.ok(err instanceof StoreUnavailableError);
    assert.match(err.message, /EROFS|read-only/i);
    return true;
  });
  assert.equal(await store.get('/apisix/routes/2'), undefined);

  fs.remount('rw');
  await store.put('/apisix/routes/3', { uri: '/three' });
  await store.close();
  store = new LocalStore(dir);
  await store.open();
  assert.deepEqual((await store.get('/apisix/routes/3'))?.value, { uri: '/three' });
  assert.equal(await store.get('/apisix/routes/2'), undefined);
  assert.deepEqual((await store.get('/apisix/routes/1'))?.value, { uri: '/one' });
});
