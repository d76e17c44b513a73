// Where sync/dump find the Admin API: conf/config.yaml's admin_listen and the
// first admin key, a generated key being read from data_dir (CONTRACT sync).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { targetFromConfig } from '../../src/declarative/sync.js';

test('CONTRACT sync, R-DECL-30: the Admin address and key come from the config; a generated key from data_dir', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'target-'));
  const data = path.join(dir, 'data');
  mkdirSync(data);
  writeFileSync(path.join(data, 'admin_keys.json'), JSON.stringify({ admin: 'generated-key-0123' }));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(
    file,
    `deployment:
  local: {data_dir: ${data}}
  admin:
    admin_listen: {ip: 0.0.0.0, port: 9555}
    admin_key:
      - {name: viewer, key: view-only-key, role: viewer}
      - {name: admin, key: "", role: admin}
`,
  );
  assert.deepEqual(targetFromConfig(file), { url: 'http://127.0.0.1:9555', key: 'generated-key-0123' });

  writeFileSync(file, 'deployment:\n  admin:\n    admin_listen: {ip: 127.0.0.2, port: 9180}\n    admin_key: [{name: a, key: explicit-key-1, role: admin}]\n');
  assert.deepEqual(targetFromConfig(file), { url: 'http://127.0.0.2:9180', key: 'explicit-key-1' });

  writeFileSync(file, 'apisix:\n  enable_admin: false\n');
  assert.throws(() => targetFromConfig(file), /enable_admin is false/);
  assert.throws(() => targetFromConfig(path.join(dir, 'missing.yaml')), /missing\.yaml/);
});
