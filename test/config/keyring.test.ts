// R-SEC-10: apisix.data_encryption in config.yaml, and the keyring generated
// when none is configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { ensureKeyring, KEYRING_FILE } from '../../src/config/keyring.js';

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-keyring-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const load = (yaml: string) => parseConfig(yaml, path.join(dir, 'config.yaml'), { cwd: dir, env: {} }).config;
  return { dir, load };
}

test('R-SEC-10 data_encryption defaults: enable_encrypt_fields true, no keyring; one key or a list is accepted', (t) => {
  const { load } = setup(t);
  assert.deepEqual(load('{}').apisix.data_encryption, { enable_encrypt_fields: true, keyring: [] });
  assert.deepEqual(load('apisix: {data_encryption: {enable_encrypt_fields: false}}').apisix.data_encryption, { enable_encrypt_fields: false, keyring: [] });
  assert.deepEqual(load('apisix: {data_encryption: {keyring: edd1c9f0985e76a2}}').apisix.data_encryption!.keyring, ['edd1c9f0985e76a2']);
  assert.deepEqual(
    load('apisix:\n  data_encryption:\n    keyring:\n      - qeddd145sfvddff3qeddd145sfvddff3\n      - edd1c9f0985e76a2\n').apisix.data_encryption!.keyring,
    ['qeddd145sfvddff3qeddd145sfvddff3', 'edd1c9f0985e76a2'],
  );
});

test('R-SEC-10 a key that is neither 16 nor 32 bytes is a start-up error naming the entry, never showing the key', (t) => {
  const { load } = setup(t);
  const bad = (yaml: string, msg: string) => {
    assert.throws(() => load(yaml), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, msg);
      assert.doesNotMatch(e.message, /secret-of-20-bytes!|tooshort/);
      return true;
    });
  };
  bad('apisix: {data_encryption: {keyring: [edd1c9f0985e76a2, secret-of-20-bytes!!]}}',
    'apisix.data_encryption.keyring[1]: expected a key of 16 bytes (AES-128-CBC) or 32 bytes (AES-256-CBC), got 20 bytes');
  bad('apisix: {data_encryption: {keyring: tooshort}}',
    'apisix.data_encryption.keyring: expected a key of 16 bytes (AES-128-CBC) or 32 bytes (AES-256-CBC), got 8 bytes');
  bad('apisix: {data_encryption: {keyring: []}}',
    'apisix.data_encryption.keyring: expected at least one key (or leave keyring out to have one generated)');
  bad('apisix: {data_encryption: {keyring: [1234567890123456]}}',
    'apisix.data_encryption.keyring[0]: expected a string key (quote it in YAML), got a number');
  bad('apisix: {data_encryption: {keyring: {a: 1}}}', 'apisix.data_encryption.keyring: expected a key or a list of keys, got a mapping');
  bad('apisix: {data_encryption: {enable_encrypt_fields: yes please}}', 'apisix.data_encryption.enable_encrypt_fields: expected boolean, got "yes please"');
});

test('R-SEC-10 without a keyring, a random 32-byte key is generated once into <data_dir>/keyring.json (0600) and reused', (t) => {
  const { dir, load } = setup(t);
  const yaml = 'deployment: {local: {data_dir: state}}';
  const printed: string[] = [];
  const c1 = load(yaml);
  ensureKeyring(c1, (l) => printed.push(l));
  const keys = c1.apisix.data_encryption!.keyring;
  assert.equal(keys.length, 1);
  assert.equal(Buffer.byteLength(keys[0]!), 32);
  assert.notEqual(keys[0], 'qeddd145sfvddff3qeddd145sfvddff3');
  const file = path.join(dir, 'state', KEYRING_FILE);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { keyring: keys });
  assert.equal(statSync(file).mode & 0o077, 0, 'the keyring file is private');
  assert.equal(printed.length, 1);
  assert.ok(!printed[0]!.includes(keys[0]!), 'the key is not printed');

  const c2 = load(yaml);
  ensureKeyring(c2, (l) => printed.push(l));
  assert.deepEqual(c2.apisix.data_encryption!.keyring, keys, 'reused on the next start');
  assert.equal(printed.length, 1);

  // a configured keyring wins and the file is not consulted; encryption off needs none
  const c3 = load('deployment: {local: {data_dir: state}}\napisix: {data_encryption: {keyring: [edd1c9f0985e76a2]}}');
  ensureKeyring(c3, () => assert.fail('nothing to print'));
  assert.deepEqual(c3.apisix.data_encryption!.keyring, ['edd1c9f0985e76a2']);
  const c4 = load('deployment: {local: {data_dir: other}}\napisix: {data_encryption: {enable_encrypt_fields: false}}');
  ensureKeyring(c4, () => assert.fail('nothing to print'));
  assert.deepEqual(c4.apisix.data_encryption!.keyring, []);

  // an unusable file stops the start instead of silently making a new key
  mkdirSync(path.join(dir, 'broken'));
  writeFileSync(path.join(dir, 'broken', KEYRING_FILE), '{"keyring": ["short"]}');
  assert.throws(() => ensureKeyring(load('deployment: {local: {data_dir: broken}}'), () => {}), /cannot read the generated data_encryption keyring/);
});

test('R-SEC-10 with config_provider etcd the keyring must be configured (nodes share the data; a generated key would be one node\'s own)', (t) => {
  const { load } = setup(t);
  assert.throws(() => load('deployment: {role_traditional: {config_provider: etcd}}'),
    /^ConfigError: apisix\.data_encryption\.keyring: required with config_provider etcd: give every node \(and any APISIX\) sharing the etcd prefix the same keys, or set apisix\.data_encryption\.enable_encrypt_fields: false$/);
  assert.deepEqual(load('deployment: {role_traditional: {config_provider: etcd}}\napisix: {data_encryption: {keyring: [edd1c9f0985e76a2]}}').apisix.data_encryption!.keyring, ['edd1c9f0985e76a2']);
  assert.equal(load('deployment: {role_traditional: {config_provider: etcd}}\napisix: {data_encryption: {enable_encrypt_fields: false}}').apisix.data_encryption!.enable_encrypt_fields, false);
});
