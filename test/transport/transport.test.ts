// The gateway's one transport (src/transport/): handles shared per setting
// tuple by every configuration and plugin that uses the same settings,
// closed when nothing holds them and when the gateway stops (R-REQ-10..12,
// R-GEN-18); the peer of each request named from undici's diagnostics_channel
// (R-VAR-4 `$upstream_addr`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { startHarness, postJson } from '../ai/harness.js';
import { aiProxyMulti } from '../../src/plugins/ai-proxy-multi/index.js';
import { UpstreamCall, llmTransportSettings } from '../../src/llm/transport.js';
import { GatewayTransport } from '../../src/transport/index.js';
import { compileHttpLogger } from '../../src/plugins/http-logger/index.js';
import { until } from '../helpers/wait.js';

const CHAT = { messages: [{ role: 'user', content: 'hi' }] };
const LLM = { timeout: 4321, keepalive: true, keepalive_timeout: 98_765, keepalive_pool: 30, ssl_verify: true };

/** a mock LLM that also counts its open connections */
async function mockWithOpenCount(): Promise<{ mock: MockLlm; open: () => number }> {
  const mock = await startMockLlm();
  let n = 0;
  mock.server.on('connection', (s) => {
    n++;
    s.on('close', () => n--);
  });
  mock.reply({ json: chatCompletion('gpt-4') });
  return { mock, open: () => n };
}

function finish(call: UpstreamCall): Promise<void> {
  return new Promise<void>((resolve, reject) => call.pipe({ data() {}, end: resolve, error: reject }));
}

test('R-REQ-11 R-REQ-12: two configurations with the same settings share one pooled connection; the Agent closes when the last lets go', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  const transport = new GatewayTransport();
  t.after(() => transport.close());
  const conf = { instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: mock.url } }] };
  const h1 = await startHarness(aiProxyMulti, conf, { transport });
  const h2 = await startHarness(aiProxyMulti, conf, { transport });
  assert.equal((await postJson(h1.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.equal((await postJson(h2.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.equal(open(), 1, 'one pooled keepalive connection shared by both configurations');
  assert.equal(transport.openCount, 1);
  await h1.close();
  assert.equal(transport.openCount, 1, 'still held by the second configuration');
  assert.equal(open(), 1);
  await h2.close();
  assert.equal(transport.openCount, 0);
  await until(() => open() === 0);
});

test('R-REQ-10: a request of a configuration already replaced still runs (the handle reopens, then closes again)', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  const transport = new GatewayTransport();
  t.after(() => transport.close());
  const handle = transport.acquire(llmTransportSettings(LLM));
  handle.release();
  assert.equal(handle.isOpen, false);
  const call = new UpstreamCall(handle, {
    origin: mock.url, path: '/v1/chat/completions', method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT),
  });
  assert.equal(handle.isOpen, true, 'reopened for the request');
  await call.head;
  assert.equal(call.status, 200);
  await finish(call);
  assert.equal(handle.isOpen, false);
  await until(() => open() === 0);
});

test('R-GEN-18: closing the gateway transport closes every connection, held or not', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  const transport = new GatewayTransport();
  const h = await startHarness(aiProxyMulti, { instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: mock.url } }] }, { transport });
  t.after(() => h.close());
  assert.equal((await postJson(h.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.equal(open(), 1);
  assert.equal(transport.openCount, 1);
  await transport.close();
  assert.equal(transport.openCount, 0);
  await until(() => open() === 0);
});

test('R-LOG-4: the http-logger sends through the gateway transport, and shares it with an AI plugin of the same settings', async (t) => {
  const got: string[] = [];
  const sink = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      got.push(b);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => sink.close(() => r())));
  const transport = new GatewayTransport();
  t.after(() => transport.close());
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const logger = compileHttpLogger({ uri: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/logs`, batch_max_size: 1 }, log, { transport });
  logger.batch.push({ n: 1 });
  await until(() => got.length === 1);
  assert.deepEqual(JSON.parse(got[0]!), { n: 1 });
  assert.equal(transport.openCount, 1);
  await logger.close();
  assert.equal(transport.openCount, 0, 'released with the logger');
});

test('R-VAR-4: each request names the peer of its own connection, for named hosts, from diagnostics_channel', async (t) => {
  const a = await startMockLlm();
  const b = await startMockLlm();
  t.after(() => a.close());
  t.after(() => b.close());
  a.reply({ json: chatCompletion('gpt-4'), delayMs: 30 });
  b.reply({ json: chatCompletion('gpt-4') });
  const transport = new GatewayTransport();
  t.after(() => transport.close());
  const handle = transport.acquire(llmTransportSettings(LLM));
  t.after(() => handle.release());
  const opts = (port: number) => ({
    origin: `http://localhost:${port}`, path: '/v1/chat/completions', method: 'POST' as const,
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT),
  });
  // interleaved: the slow request to `a` is in flight while `b` connects and answers
  const ca = new UpstreamCall(handle, opts(a.port), transport);
  const cb = new UpstreamCall(handle, opts(b.port), transport);
  const untracked = new UpstreamCall(handle, opts(b.port));
  await Promise.all([ca.head, cb.head, untracked.head]);
  await Promise.all([finish(ca), finish(cb), finish(untracked)]);
  assert.match(ca.peer ?? '', new RegExp(`^(127\\.0\\.0\\.1|\\[::1\\]):${a.port}$`));
  assert.match(cb.peer ?? '', new RegExp(`^(127\\.0\\.0\\.1|\\[::1\\]):${b.port}$`));
  assert.equal(untracked.peer, undefined, 'no peer work for a request that did not ask (IP literal endpoints)');
});

test('R-VAR-4: $upstream_addr of a named LLM endpoint is the connected ip:port', async (t) => {
  const { mock } = await mockWithOpenCount();
  t.after(() => mock.close());
  const h = await startHarness(aiProxyMulti, { instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: `http://localhost:${mock.port}` } }] });
  t.after(() => h.close());
  assert.equal((await postJson(h.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.deepEqual(h.contexts[0]!.upstreamAttempts.map((x) => x.addr), [`127.0.0.1:${mock.port}`]);
});
