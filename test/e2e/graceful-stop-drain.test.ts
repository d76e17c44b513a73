// Graceful stop (src/app.ts) waits for the log phase of the last requests
// before it closes the runtime, the access log, the logger batches and the
// shared state (R-GEN-18, R-LOG-4); a stalled request body does not hold it
// (R-GEN-3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { plugins } from '../../src/plugins/registry.js';
import type { PluginDef } from '../../src/core/types.js';
import { startInProcess } from '../loggers/inproc.js';
import { req, startUpstream } from '../proxy/harness.js';

let logDone = 0;
const slowLog: PluginDef = {
  name: 't-slow-log',
  priority: 10,
  schema: { type: 'object' },
  async log() {
    await new Promise((r) => setTimeout(r, 400));
    logDone++;
  },
};
(plugins as Map<string, PluginDef>).set(slowLog.name, slowLog);

test('R-GEN-18 R-LOG-4: stop() waits for the log phase and the access log line of the last request', async (t) => {
  const up = await startUpstream();
  const g = await startInProcess();
  t.after(async () => { await up.close(); rmSync(g.dir, { recursive: true, force: true }); });
  await g.gw.store.put('/apisix/routes/slow', {
    uri: '/slow-log', plugins: { 't-slow-log': {} }, upstream: { type: 'roundrobin', nodes: { [up.hostPort]: 1 } },
  });
  // agent: false → Connection: close, so the listener has nothing left to wait for
  const r = await req(`${g.proxyUrl}/slow-log`);
  assert.equal(r.status, 200);
  assert.equal(logDone, 0, 'the log phase is still running');
  const dir = g.dir;
  await g.gw.stop(5000);
  assert.equal(logDone, 1, 'stop() returned before the log phase finished');
  const file = path.join(dir, 'logs/access.log');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  assert.match(text, /GET \/slow-log /, 'the access log line was written before the access log closed');
});

test('R-GEN-3 R-GEN-18: a client that stalls its body is answered 408 and does not hold graceful stop', async () => {
  process.env.SWITCHYARD_CLIENT_BODY_TIMEOUT_MS = '300';
  const g = await startInProcess();
  delete process.env.SWITCHYARD_CLIENT_BODY_TIMEOUT_MS;
  try {
    await g.gw.store.put('/apisix/routes/chat', {
      uri: '/chat',
      plugins: { 'ai-proxy-multi': { instances: [{ name: 'i', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint: 'http://127.0.0.1:9' } }] } },
    });
    const u = new URL(g.proxyUrl);
    const sock = net.connect(Number(u.port), u.hostname);
    let text = '';
    sock.setEncoding('utf8').on('data', (d) => (text += d));
    sock.on('error', () => {});
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"messa');
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await g.gw.stop(10_000);
    const took = Date.now() - t0;
    assert.ok(took < 3000, `stop took ${took} ms`);
    assert.match(text, /^HTTP\/1\.1 408 /, text || '(no answer)');
    sock.destroy();
  } finally {
    await g.stop().catch(() => {});
  }
});
