// http-logger to an https collector with a self-signed certificate (R-LOG-5 ssl_verify).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { compileHttpLogger } from '../../src/plugins/http-logger/index.js';
import { until } from './collector.js';

test('R-LOG-5: https collector — ssl_verify false accepts a self-signed certificate, ssl_verify true refuses it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const bodies: string[] = [];
  const server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => { bodies.push(b); res.end('ok'); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const uri = `https://127.0.0.1:${(server.address() as AddressInfo).port}/tls`;
  const errors: string[] = [];
  const log = { debug() {}, info() {}, warn() {}, error: (m: string) => errors.push(m) };

  const lax = compileHttpLogger({ uri, batch_max_size: 1, ssl_verify: false }, log);
  lax.batch.push({ n: 1 });
  await until(() => bodies.length === 1, 5000, 'the https POST');
  assert.deepEqual(JSON.parse(bodies[0]!), { n: 1 });
  await lax.close();

  const strict = compileHttpLogger({ uri, batch_max_size: 1, ssl_verify: true }, log);
  strict.batch.push({ n: 2 });
  await until(() => errors.some((e) => e.includes('exceeded the max_retry_count')), 5000, 'the failed batch');
  assert.ok(errors.some((e) => /failed to process entries: .*(self[- ]signed|certificate)/i.test(e)), errors.join('\n'));
  assert.equal(bodies.length, 1);
  await strict.close();
});
