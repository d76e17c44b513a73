// src/transport/undici.ts (issue 11, the RSS at start): the gateway loads the
// parts of undici it uses from their own modules, not undici's index. Those
// are undici's file paths, not its documented API: these tests fail by name
// when an undici release moves them or stops exporting the same objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, buildConnector, errors } from '../../src/transport/undici.js';

const require = createRequire(import.meta.url);

test('the parts are the very objects undici\'s index exports', () => {
  const undici = require('undici') as typeof import('undici');
  assert.equal(Agent, undici.Agent);
  assert.equal(buildConnector, undici.buildConnector);
  assert.equal(errors, undici.errors);
  assert.equal(typeof errors.BodyTimeoutError, 'function');
  assert.equal(typeof errors.HeadersTimeoutError, 'function');
  assert.equal(typeof errors.ConnectTimeoutError, 'function');
});

test('R-REQ-11: an Agent from the parts has request() without undici\'s index loaded, and it works', async () => {
  // a fresh process: this test file's own require('undici') above must not help
  const script = `
    import { Agent } from ${JSON.stringify(new URL('../../src/transport/undici.js', import.meta.url).href)};
    import http from 'node:http';
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const srv = http.createServer((req, res) => res.end('ok ' + req.url)).listen(0, '127.0.0.1', async () => {
      const a = new Agent();
      const r = await a.request({ origin: 'http://127.0.0.1:' + srv.address().port, path: '/x', method: 'GET' });
      const text = await r.body.text();
      const indexLoaded = Object.keys(require.cache).some((k) => /node_modules[\\\\/]undici[\\\\/]index\\.js$/.test(k));
      console.log(JSON.stringify({ status: r.statusCode, text, indexLoaded }));
      await a.close(); srv.close();
    });`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout.trim()), { status: 200, text: 'ok /x', indexLoaded: false });
});

test('R-REQ-10: a timeout from an Agent of the parts is an instance of the parts\' error class (the failure is classified as a timeout)', async () => {
  const srv = http.createServer(() => { /* never answers */ });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const a = new Agent({ headersTimeout: 50 });
  try {
    await assert.rejects(
      a.request({ origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, path: '/', method: 'GET' }),
      (err: unknown) => err instanceof errors.HeadersTimeoutError,
    );
  } finally {
    await a.close();
    srv.closeAllConnections();
    srv.close();
  }
});
