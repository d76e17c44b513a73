// R-SEC-10 through the real CLI: plugins' encrypt_fields are stored
// encrypted exactly as APISIX stores them (local store and etcd, 1 and 2
// workers), the admin role reads them decrypted, the viewer role masked, and
// a restart (or an APISIX writing the same etcd prefix) reads them back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { startEtcd } from '../helpers/etcd.js';
import { until } from '../helpers/wait.js';

const PROVIDER = 'sk-upstream-9f8e7d6c5b4a';
const CONSUMER = 'ck-consumer-1a2b3c4d5e';
const VIEWER_KEY = 'viewer-key-0123456789abcdef0123';

/** APISIX's data_encryption (docs/en/latest/plugin-develop.md), computed here from the algorithm itself */
function apisixEncrypt(key: string, value: string): string {
  const k = Buffer.from(key);
  const c = createCipheriv(k.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', k, k.subarray(0, 16));
  return Buffer.concat([c.update(value), c.final()]).toString('base64');
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}
const dataText = (gw: GatewayProcess) => filesUnder(path.join(gw.dir, 'data')).map((f) => readFileSync(f, 'utf8')).join('\n');

const adminKeys = [
  { name: 'admin', key: 'test-admin-key-0123456789abcdef', role: 'admin' },
  { name: 'viewer', key: VIEWER_KEY, role: 'viewer' },
];

function route(mock: MockLlm) {
  return {
    uri: '/chat',
    plugins: {
      'key-auth': {},
      'ai-proxy-multi': {
        instances: [{ name: 'up', provider: 'openai', weight: 1, auth: { header: { Authorization: `Bearer ${PROVIDER}` } }, options: { model: 'gpt-4' }, override: { endpoint: `${mock.url}/v1/chat/completions` } }],
      },
    },
  };
}

async function chat(gw: GatewayProcess, apikey: string) {
  const r = await fetch(gw.proxyUrl + '/chat', { method: 'POST', headers: { apikey, 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
  return { status: r.status, text: await r.text() };
}

/** the configuration writes, the proxy path and the reads every variant checks */
async function writeAndCheck(gw: GatewayProcess, mock: MockLlm, key: string, storedText: () => Promise<string> = async () => dataText(gw)) {
  const put = await gw.admin('PUT', '/apisix/admin/routes/r1', route(mock));
  assert.equal(put.status, 201, put.text);
  // as APISIX (t/admin/consumers.t), a write answers with the value as stored
  assert.equal(put.body.value.plugins['ai-proxy-multi'].instances[0].auth.header.Authorization, apisixEncrypt(key, `Bearer ${PROVIDER}`));
  assert.equal((await gw.admin('PUT', '/apisix/admin/consumers', { username: 'alice' })).status, 201);
  const cred = await gw.admin('PUT', '/apisix/admin/consumers/alice/credentials/c1', { plugins: { 'key-auth': { key: CONSUMER } } });
  assert.equal(cred.status, 201, cred.text);

  const before = mock.requests.length;
  const r = await chat(gw, CONSUMER);
  assert.equal(r.status, 200, r.text);
  assert.equal(mock.requests.at(-1)!.headers.authorization, `Bearer ${PROVIDER}`, 'the upstream gets the decrypted provider key');
  assert.equal(mock.requests.length, before + 1);
  assert.equal((await chat(gw, 'wrong-key')).status, 401);

  const text = await storedText();
  assert.ok(!text.includes(PROVIDER), 'no provider key in plain text in the store');
  assert.ok(!text.includes(CONSUMER), 'no consumer key in plain text in the store');
  assert.ok(text.includes(JSON.stringify(apisixEncrypt(key, CONSUMER))), 'the consumer key is stored as APISIX would store it');

  const asAdmin = await gw.admin('GET', '/apisix/admin/consumers/alice/credentials/c1');
  assert.equal(asAdmin.body.value.plugins['key-auth'].key, CONSUMER, 'the admin role reads it decrypted');
  const asViewer = await gw.admin('GET', '/apisix/admin/routes', undefined, { 'X-API-KEY': VIEWER_KEY });
  assert.equal(asViewer.status, 200);
  assert.equal(asViewer.body.list[0].value.plugins['ai-proxy-multi'].instances[0].auth.header.Authorization, '******');
  assert.ok(!asViewer.text.includes(PROVIDER));
  const viewerCred = await gw.admin('GET', '/apisix/admin/consumers/alice/credentials/c1', undefined, { 'X-API-KEY': VIEWER_KEY });
  assert.equal(viewerCred.body.value.plugins['key-auth'].key, '******');
}

for (const workers of [1, 2]) {
  test(`R-SEC-10 local store, worker_processes ${workers}: encrypted at rest as APISIX, decrypted for admin, masked for viewer, read back after a restart`, { timeout: 60_000 }, async (t) => {
    const mock = await startMockLlm();
    mock.reply({ json: chatCompletion('gpt-4') });
    t.after(() => mock.close());
    const key = 'edd1c9f0985e76a2';
    const config = {
      apisix: { data_encryption: { keyring: [key] } },
      deployment: { admin: { admin_key: adminKeys } },
      nginx_config: { worker_processes: workers },
    };
    let gw = await startGateway({ config });
    const dir = gw.dir;
    // the gateway first: a running one (or its workers) still writes into its directory
    t.after(() => gw.kill());
    t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
    await writeAndCheck(gw, mock, key);

    assert.equal(await gw.stop(), 0);
    gw = await startGateway({ dir, config });
    assert.equal((await chat(gw, CONSUMER)).status, 200, 'the stored keys decrypt after a restart');
    assert.equal(mock.requests.at(-1)!.headers.authorization, `Bearer ${PROVIDER}`);
    assert.equal((await gw.admin('GET', '/apisix/admin/consumers/alice/credentials/c1')).body.value.plugins['key-auth'].key, CONSUMER);
  });
}

test('R-SEC-10 no keyring configured: one is generated into data/keyring.json (0600) at first start and reused after a restart', { timeout: 60_000 }, async (t) => {
  const mock = await startMockLlm();
  mock.reply({ json: chatCompletion('gpt-4') });
  t.after(() => mock.close());
  const config = { deployment: { admin: { admin_key: adminKeys } } };
  let gw = await startGateway({ config });
  const dir = gw.dir;
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const file = path.join(dir, 'data', 'keyring.json');
  const { keyring } = JSON.parse(readFileSync(file, 'utf8')) as { keyring: string[] };
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(Buffer.byteLength(keyring[0]!), 32);
  assert.match(gw.stdout(), /generated a data_encryption keyring in .*keyring\.json/);
  assert.ok(!gw.stdout().includes(keyring[0]!), 'the key itself is not printed');
  await writeAndCheck(gw, mock, keyring[0]!);

  assert.equal(await gw.stop(), 0);
  gw = await startGateway({ dir, config });
  assert.doesNotMatch(gw.stdout(), /generated a data_encryption keyring/);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).keyring, keyring);
  assert.equal((await chat(gw, CONSUMER)).status, 200);
});

test('R-SEC-10 etcd store: etcd holds APISIX\'s ciphertext; a value APISIX wrote with the same keyring is read and used', { timeout: 60_000 }, async (t) => {
  const etcd = await startEtcd();
  t.after(() => etcd.close());
  const mock = await startMockLlm();
  mock.reply({ json: chatCompletion('gpt-4') });
  t.after(() => mock.close());
  // rotated: the 32-byte key encrypts, the old 16-byte one still reads
  const key = 'qeddd145sfvddff3qeddd145sfvddff3';
  const old = 'edd1c9f0985e76a2';
  const gw = await startGateway({
    config: {
      apisix: { data_encryption: { keyring: [key, old] } },
      deployment: { role_traditional: { config_provider: 'etcd' }, etcd: { host: [etcd.url], prefix: '/shared', timeout: 30 }, admin: { admin_key: adminKeys } },
    },
  });
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(gw.dir, { recursive: true, force: true, maxRetries: 5 }));
  const raw = new Etcd3({ hosts: etcd.url });
  t.after(() => raw.close());
  const etcdText = async () => Object.values(await raw.getAll().prefix('/shared/').strings()).join('\n');
  await writeAndCheck(gw, mock, key, etcdText);

  const stored = JSON.parse((await raw.get('/shared/consumers/alice/credentials/c1').string())!);
  assert.equal(stored.plugins['key-auth'].key, apisixEncrypt(key, CONSUMER));
  const routeText = (await raw.get('/shared/routes/r1').string())!;
  assert.ok(!routeText.includes(PROVIDER));

  // what an APISIX with keyring [old] writes (t/node/data_encrypt.t TEST 9: "auth-two")
  await raw.put('/shared/consumers/bob').value(JSON.stringify({ username: 'bob', plugins: { 'key-auth': { key: 'vU/ZHVJw7b0XscDJ1Fhtig==' } } }));
  await until(async () => (await chat(gw, 'auth-two')).status === 200, 10_000, 'the key APISIX encrypted to authenticate', 50);
  assert.equal((await gw.admin('GET', '/apisix/admin/consumers/bob')).body.value.plugins['key-auth'].key, 'auth-two');
});
