// R-GEN-15: every acknowledged write survives SIGKILL at a random moment, and
// the store always loads. A child process writes through a LocalStore (three
// concurrent lanes, compaction every 25 records) and is killed several times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalStore } from '../../src/store/local.js';

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/store-writer.js');

function runAndKill(dir: string, round: number, killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER], {
      env: { ...process.env, SWITCHYARD_WRITER_DIR: dir, SWITCHYARD_WRITER_ROUND: String(round) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!timer && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited ${code} ${signal}: ${err}`));
      else resolve(out.split('\n'));
    });
  });
}

test('R-GEN-15 acknowledged writes survive SIGKILL at random moments; the store always loads', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-durability-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const present = new Set<string>();
  const absent = new Set<string>();
  const modIndex = new Map<string, number>();
  let maxRev = 0;
  let maxId = '';
  let acked = 0;
  for (let round = 0; round < 5; round++) {
    const lines = await runAndKill(dir, round, 150 + Math.floor(Math.random() * 350));
    const tried = new Set<string>();
    for (const line of lines) {
      const [op, a, b] = line.split(' ');
      if (op === 'put') {
        present.add(a!);
        modIndex.set(a!, Number(b));
        maxRev = Math.max(maxRev, Number(b));
        acked++;
      } else if (op === 'try-del') {
        tried.add(a!);
      } else if (op === 'del') {
        present.delete(a!);
        absent.add(a!);
        maxRev = Math.max(maxRev, Number(b));
        acked++;
      } else if (op === 'id') {
        assert.ok(a! > maxId, `ids increase: ${a} after ${maxId}`);
        maxId = a!;
        acked++;
      }
    }
    // a delete that was issued but not acknowledged may or may not have happened
    for (const k of tried) if (!absent.has(k)) present.delete(k);
    for (const k of tried) if (!absent.has(k)) modIndex.delete(k);

    const store = new LocalStore(dir);
    await store.open();
    try {
      for (const key of present) {
        const item = await store.get(key);
        assert.ok(item, `round ${round}: acknowledged put of ${key} is missing`);
        assert.equal(item.modifiedIndex, modIndex.get(key));
      }
      for (const key of absent) assert.equal(await store.get(key), undefined, `round ${round}: deleted ${key} is back`);
      assert.ok(store.currentRevision >= maxRev, 'revision counter does not go back');
      const id = await store.nextId();
      assert.ok(id > maxId, `POST id sequence continues: ${id} > ${maxId}`);
      maxId = id;
      const probe = await store.put('/apisix/routes/probe', { round });
      assert.ok(probe.modifiedIndex > maxRev);
      maxRev = probe.modifiedIndex;
      modIndex.set('/apisix/routes/probe', probe.modifiedIndex);
      present.add('/apisix/routes/probe');
    } finally {
      await store.close();
    }
  }
  t.diagnostic(`${acked} acknowledged writes, ${present.size} items, revision ${maxRev}`);
  assert.ok(acked > 20, `enough writes were acknowledged (${acked})`);
});
