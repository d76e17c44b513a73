// No secret appears in any log line (issue 16): a gateway configured with
// distinctive secrets (admin key, provider key, consumer key) serves admin
// writes, proxied AI requests (good and failing, key in header and query),
// and every file it logs to, with its stdout and stderr, is searched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const ADMIN = 'sekADMINq7w3e9r1t5y2u8i4o6p0a';
const PROVIDER = 'sekPROVIDERz1x2c3v4b5n6m7';
const CONSUMER = 'sekCONSUMERl9k8j7h6g5f4';
const SECRETS = [ADMIN, PROVIDER, CONSUMER];

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

test('issue 16 R-ALOG-4: no admin, provider or consumer secret appears in stdout, stderr or any log file', { timeout: 60_000 }, async (t) => {
  const ok = await startMockLlm();
  const bad = await startMockLlm();
  ok.reply({ json: chatCompletion('gpt-4') });
  bad.reply({ status: 500, json: { error: 'boom' } });
  const gw = await startGateway({ config: { deployment: { admin: { admin_key: [{ name: 'admin', key: ADMIN, role: 'admin' }] } } } });
  t.after(async () => { await ok.close(); await bad.close(); });
  gw.adminKey = ADMIN;
  const admin = (m: string, p: string, body?: unknown) =>
    fetch(gw.adminUrl + p, { method: m, headers: { 'X-API-KEY': ADMIN, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const instance = (name: string, url: string) => ({ name, provider: 'openai', weight: 1, auth: { header: { Authorization: `Bearer ${PROVIDER}` } }, options: { model: 'gpt-4' }, override: { endpoint: url } });
  for (const [id, url] of [['good', ok.url], ['failing', bad.url]] as const) {
    const r = await admin('PUT', `/apisix/admin/routes/${id}`, { uri: `/${id}`, plugins: { 'key-auth': {}, 'ai-proxy-multi': { instances: [instance(`i-${id}`, url)] } } });
    assert.ok(r.status < 300, await r.text());
  }
  const c = await admin('PUT', '/apisix/admin/consumers', { username: 'alice', plugins: { 'key-auth': { key: CONSUMER } } });
  assert.ok(c.status < 300, await c.text());
  // a rejected write that carries a secret, the admin key in the query, a wrong key
  await (await admin('PUT', '/apisix/admin/consumers', { username: 'bob', plugins: { 'key-auth': { key: CONSUMER } } })).text();
  await (await fetch(`${gw.adminUrl}/apisix/admin/routes?api_key=${ADMIN}`)).text();
  await (await fetch(`${gw.adminUrl}/apisix/admin/routes`, { headers: { 'X-API-KEY': ADMIN + 'x' } })).text();

  const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
  const sent: Array<Promise<unknown>> = [];
  for (const p of ['/good', '/failing']) {
    sent.push(fetch(gw.proxyUrl + p, { method: 'POST', headers: { apikey: CONSUMER, 'content-type': 'application/json' }, body }).then((r) => r.text()));
    sent.push(fetch(`${gw.proxyUrl}${p}?apikey=${CONSUMER}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text()));
    sent.push(fetch(gw.proxyUrl + p, { method: 'POST', headers: { apikey: CONSUMER + 'x', 'content-type': 'application/json' }, body }).then((r) => r.text()));
  }
  await Promise.all(sent);
  await (await fetch(gw.proxyUrl + '/marker')).text();
  const access = path.join(gw.dir, 'logs/access.log');
  await until(() => { try { return readFileSync(access, 'utf8').includes('/marker'); } catch { return false; } }, 5000, 'the access log lines');
  assert.ok(ok.requests.length >= 2, 'the provider was reached');
  assert.equal(await gw.stop(), 0);

  const sources: Array<[string, string]> = [['stdout', gw.stdout()], ['stderr', gw.stderr()]];
  for (const f of filesUnder(path.join(gw.dir, 'logs'))) sources.push([f, readFileSync(f, 'utf8')]);
  assert.ok(sources.length >= 3, 'the access log exists');
  for (const [where, text] of sources) {
    for (const s of SECRETS) {
      const line = text.split('\n').find((l) => l.includes(s));
      assert.equal(line, undefined, `a secret in ${where}: ${line}`);
    }
  }
});
