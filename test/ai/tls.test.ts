// R-REQ-12: ssl_verify against a self-signed HTTPS provider (certificate made
// with the openssl CLI; skipped when it is not installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startHarness, postJson } from './harness.js';
import { aiProxy } from '../../src/plugins/ai-proxy/index.js';
import { chatCompletion } from '../helpers/mock-llm.js';

function selfSigned(): { key: Buffer; cert: Buffer } | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'swy-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=llm.example.test'], { stdio: 'ignore' });
    return { key: readFileSync(path.join(dir, 'k.pem')), cert: readFileSync(path.join(dir, 'c.pem')) };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('R-REQ-12: ssl_verify true rejects an untrusted certificate (500), false accepts it', async (t) => {
  const pair = selfSigned();
  if (!pair) return t.skip('openssl not available');
  let seen = 0;
  const server = https.createServer(pair, (req, res) => {
    req.resume();
    req.on('end', () => {
      seen++;
      const b = JSON.stringify(chatCompletion('gpt-4'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const errors: string[] = [];
  const strict = await startHarness(aiProxy, { provider: 'openai', auth: {}, override: { endpoint } }, { errors });
  t.after(() => strict.close());
  const r1 = await postJson(strict.url + '/anything', { messages: [] });
  assert.equal(r1.status, 500);
  assert.equal(seen, 0);
  assert.ok(errors.some((e) => e.includes('ai-proxy-openai')), errors.join('\n'));
  const lax = await startHarness(aiProxy, { provider: 'openai', auth: {}, ssl_verify: false, override: { endpoint } });
  t.after(() => lax.close());
  const r2 = await postJson(lax.url + '/anything', { messages: [] });
  assert.equal(r2.status, 200);
  assert.equal(r2.json.model, 'gpt-4');
  assert.equal(seen, 1);
});
