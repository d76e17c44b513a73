// R-GEN-14 admin key bootstrap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureAdminKeys, ADMIN_KEYS_FILE } from '../../src/config/admin-key.js';
import { parseConfig } from '../../src/config/load.js';

function setup(t: { after(fn: () => void): void }, yaml: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const load = () => parseConfig(yaml, path.join(dir, 'config.yaml'), { cwd: dir, env: {} }).config;
  return { dir, load };
}

test('R-GEN-14 a missing admin_key gets a generated 32-char hex key for "admin", printed once, reused later', (t) => {
  const { dir, load } = setup(t, 'deployment: {local: {data_dir: state}}');
  const printed: string[] = [];
  const c1 = load();
  ensureAdminKeys(c1, (l) => printed.push(l));
  const key = c1.deployment.admin.admin_key[0]!.key;
  assert.match(key, /^[0-9a-f]{32}$/);
  assert.deepEqual(c1.deployment.admin.admin_key, [{ name: 'admin', key, role: 'admin' }]);
  assert.deepEqual(printed, [`generated admin key for "admin": ${key}`]);
  const file = path.join(dir, 'state', ADMIN_KEYS_FILE);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { admin: key });
  assert.equal(statSync(file).mode & 0o077, 0, 'the key file is private');

  const c2 = load();
  ensureAdminKeys(c2, (l) => printed.push(l));
  assert.equal(c2.deployment.admin.admin_key[0]!.key, key, 'reused on the next start');
  assert.equal(printed.length, 1, 'printed only at first generation');
});

test('R-GEN-14 only entries with an empty key are generated; given keys are kept and never persisted', (t) => {
  const { dir, load } = setup(t, `
deployment:
  admin:
    admin_key:
      - {name: admin, key: given-key, role: admin}
      - {name: viewer, key: "", role: viewer}
      - {name: ops, role: admin}
`);
  const printed: string[] = [];
  const c = load();
  ensureAdminKeys(c, (l) => printed.push(l));
  const [a, v, o] = c.deployment.admin.admin_key;
  assert.equal(a!.key, 'given-key');
  assert.match(v!.key, /^[0-9a-f]{32}$/);
  assert.match(o!.key, /^[0-9a-f]{32}$/);
  assert.notEqual(v!.key, o!.key);
  assert.deepEqual(printed, [`generated admin key for "viewer": ${v!.key}`, `generated admin key for "ops": ${o!.key}`]);
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'data', ADMIN_KEYS_FILE), 'utf8')), { viewer: v!.key, ops: o!.key });
});

test('R-GEN-14 an empty admin_key list is treated like a missing one; nothing is written when every key is given', (t) => {
  const { dir, load } = setup(t, 'deployment: {admin: {admin_key: []}}');
  const c = load();
  const printed: string[] = [];
  ensureAdminKeys(c, (l) => printed.push(l));
  assert.equal(printed.length, 1);
  assert.match(printed[0]!, /^generated admin key for "admin": [0-9a-f]{32}$/);

  const other = setup(t, 'deployment: {admin: {admin_key: [{name: admin, key: k}]}}');
  ensureAdminKeys(other.load(), () => assert.fail('nothing to print'));
  assert.throws(() => readFileSync(path.join(other.dir, 'data', ADMIN_KEYS_FILE)), /ENOENT/);
  void dir;
});
