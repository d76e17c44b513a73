// Review fixes of the request path: `_meta.filter` on the proxy phase
// (R-ADM-60), the request body read timeout (R-GEN-3, R-GEN-17) and the
// drained() hook graceful stop waits on (R-GEN-18, R-LOG-4).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { plugins } from '../../src/plugins/registry.js';
import type { PluginDef } from '../../src/core/types.js';
import { RuntimeHolder } from '../../src/runtime/holder.js';
import { createProxyHandler } from '../../src/proxy/server.js';
import { createMemoryState } from '../../src/state/memory.js';
import { GatewayTransport } from '../../src/transport/index.js';
import { startMockLlm } from '../helpers/mock-llm.js';
import { MemStore, captureLog, req, startHarness, startUpstream } from './harness.js';
import { until } from '../helpers/wait.js';
import { gatewayServices } from '../helpers/gateway-services.js';

// read by createProxyHandler when the harness creates it
process.env.SWITCHYARD_CLIENT_BODY_TIMEOUT_MS = '300';

const mock = await startMockLlm();
const up = await startUpstream();
const h = await startHarness();
after(async () => {
  await h.close();
  await up.close();
  await mock.close();
});

const instance = (name = 'i1') => ({
  name, provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } },
  options: { model: 'gpt-4' }, override: { endpoint: mock.url },
});
const chat = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
const json = { 'content-type': 'application/json' };

test('R-ADM-60: an AI plugin whose _meta.filter is false counts as absent: plain upstream, else the 503 page (R-PIPE-10)', async () => {
  h.store.putSync('/apisix/routes/filter-up', {
    uri: '/filter-up',
    plugins: { 'ai-proxy-multi': { instances: [instance()], _meta: { filter: [['arg_ai', '==', '1']] } } },
    upstream: { type: 'roundrobin', nodes: { [up.hostPort]: 1 } },
  });
  h.store.putSync('/apisix/routes/filter-none', {
    uri: '/filter-none',
    plugins: { 'ai-proxy-multi': { instances: [instance()], _meta: { filter: [['arg_ai', '==', '1']] } } },
  });
  const before = mock.count();
  const ai = await req(`${h.url}/filter-up?ai=1`, { method: 'POST', headers: json, body: chat });
  assert.equal(ai.status, 200, ai.text);
  assert.equal(ai.json.object, 'chat.completion');
  assert.equal(mock.count(), before + 1);

  const plain = await req(`${h.url}/filter-up`, { method: 'POST', headers: json, body: chat });
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.headers.get('x-upstream'), 'yes', 'served by the route upstream');
  assert.equal(plain.json.url, '/filter-up');
  assert.equal(mock.count(), before + 1, 'the LLM was not called');

  const none = await req(`${h.url}/filter-none`, { method: 'POST', headers: json, body: chat });
  assert.equal(none.status, 503);
  assert.match(none.text, /503 Service Temporarily Unavailable/);
  assert.ok(!h.log.lines.some((l) => l.includes('proxy phase sent nothing')), h.log.lines.join('\n'));
});

/** writes `head` and then the given body chunks, returns everything the server sent until it closed */
function rawExchange(head: string, chunks: Array<{ data: string; delayMs?: number }>, waitMs: number): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const port = Number(new URL(h.url).port);
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, ms: Date.now() - t0 });
    }, waitMs);
    sock.setEncoding('utf8');
    sock.on('data', (d) => (text += d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: Date.now() - t0 });
    });
    sock.on('error', reject);
    sock.on('connect', async () => {
      sock.write(head);
      for (const c of chunks) {
        if (c.delayMs) await new Promise((r) => setTimeout(r, c.delayMs));
        if (sock.destroyed) return;
        sock.write(c.data);
      }
    });
  });
}

test('R-GEN-3: a request body that stalls is answered 408 with the default error page, logged, and the connection closed', async () => {
  h.store.putSync('/apisix/routes/chat', { uri: '/chat', plugins: { 'ai-proxy-multi': { instances: [instance()] } } });
  const logged = h.logged.length;
  const head = 'POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
  const r = await rawExchange(head, [{ data: '{"messa' }], 5000);
  assert.match(r.text, /^HTTP\/1\.1 408 /, r.text || '(no answer)');
  assert.match(r.text, /<h1>408 Request Timeout<\/h1>/);
  assert.match(r.text, /content-type: text\/html/i);
  assert.ok(r.ms < 4000, `answered after ${r.ms} ms`);
  await until(() => h.logged.length > logged);
  assert.equal(h.logged[h.logged.length - 1]!.status, 408);
  await until(() => h.inFlight() === 0);
  assert.ok(!h.log.lines.some((l) => l.startsWith('[error]') && l.includes('/chat')), h.log.lines.join('\n'));
});

test('R-GEN-17 R-GEN-3: a large body that keeps arriving slowly does not time out (the timeout is between reads)', async () => {
  h.store.putSync('/apisix/routes/chat', { uri: '/chat', plugins: { 'ai-proxy-multi': { instances: [instance()] } } });
  const body = chat + ' '.repeat(200_000);
  const parts = 12;
  const size = Math.ceil(body.length / parts);
  const chunks = Array.from({ length: parts }, (_, i) => ({ data: body.slice(i * size, (i + 1) * size), delayMs: 150 }));
  const head = `POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  const r = await rawExchange(head, chunks, 8000);
  assert.ok(r.ms > 1500, `the body took ${r.ms} ms, longer than the 300 ms timeout`);
  assert.match(r.text, /^HTTP\/1\.1 200 /, r.text.slice(0, 300) || '(no answer)');
  assert.match(r.text, /chat\.completion/);
});

test('R-GEN-18 R-LOG-4: drained() resolves only once the log phase of the last request finished', async (t) => {
  let logDone = false;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const def: PluginDef = {
    name: 't-drain-log',
    priority: 10,
    schema: { type: 'object' },
    async log() {
      await gate;
      logDone = true;
    },
  };
  (plugins as Map<string, PluginDef>).set(def.name, def);
  const store = new MemStore();
  store.putSync('/apisix/routes/1', { uri: '/d', plugins: { 't-drain-log': {} }, upstream: { type: 'roundrobin', nodes: { [up.hostPort]: 1 } } });
  const log = captureLog();
  const state = createMemoryState();
  const health = { register: () => ({ isHealthy: () => true, isCooling: () => false, trialOpen: () => false, claimTrial: () => false, observe() {}, version: 0, destroy() {} }), report: () => [], close() {} };
  const holder = new RuntimeHolder(store, { state, health: health as any, transport: new GatewayTransport(), ...gatewayServices(), log });
  const lines: string[] = [];
  const proxy = createProxyHandler({ holder, accessLog: { write: (c) => void lines.push(c.uri), close: async () => {} }, log });
  const server = http.createServer((rq, rs) => proxy.handler(rq, rs));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    holder.close();
    await holder.env.transport.close();
    await state.close();
  });
  await proxy.drained(); // nothing in flight: resolves at once
  const r = await req(`http://127.0.0.1:${(server.address() as AddressInfo).port}/d`);
  assert.equal(r.status, 200);
  assert.equal(proxy.inFlight, 1, 'the log phase is still running');
  let drained = false;
  const p = proxy.drained().then(() => (drained = true));
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(drained, false);
  release();
  await p;
  assert.equal(logDone, true);
  assert.deepEqual(lines, ['/d']);
  assert.equal(proxy.inFlight, 0);
});
