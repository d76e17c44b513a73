// LLM transports: Agents shared per setting tuple, closed when no
// configuration holds them any more and at shutdown (R-REQ-10..12, R-GEN-18);
// `$upstream_addr` names the connected peer (R-VAR-4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { startHarness, postJson } from '../ai/harness.js';
import { aiProxyMulti } from '../../src/plugins/ai-proxy-multi/index.js';
import { acquireTransport, openTransportCount, UpstreamCall } from '../../src/llm/transport.js';
import { runShutdownHooks } from '../../src/core/lifecycle.js';
import { notePeer, lastPeer } from '../../src/core/peer-addr.js';
import { until } from '../helpers/wait.js';

const CHAT = { messages: [{ role: 'user', content: 'hi' }] };

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

test('R-REQ-11 R-REQ-12: the Agent of settings no configuration uses any more is closed (idle keepalive connection dropped)', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  // a setting tuple of its own (keepalive_timeout) so no other test shares it
  const conf = { keepalive_timeout: 123_456, instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: mock.url } }] };
  const h1 = await startHarness(aiProxyMulti, conf);
  const h2 = await startHarness(aiProxyMulti, conf);
  assert.equal((await postJson(h1.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.equal((await postJson(h2.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.equal(open(), 1, 'one pooled keepalive connection shared by both configurations');
  await h1.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(open(), 1, 'still held by the second configuration');
  await h2.close();
  await until(() => open() === 0);
});

test('R-REQ-10: a request of a configuration already replaced still runs (the transport reopens, then closes again)', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  const tr = acquireTransport({ timeout: 4321, keepalive: true, keepalive_timeout: 98_765, keepalive_pool: 30, ssl_verify: true });
  tr.release();
  assert.equal(tr.isOpen, false);
  const call = new UpstreamCall(tr, {
    origin: mock.url, path: '/v1/chat/completions', method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT),
  });
  assert.equal(tr.isOpen, true, 'reopened for the request');
  await call.head;
  assert.equal(call.status, 200);
  await new Promise<void>((resolve, reject) => call.pipe({ data() {}, end: resolve, error: reject }));
  assert.equal(tr.isOpen, false);
  await until(() => open() === 0);
});

test('R-GEN-18: shutdown hooks close the LLM connections', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  const h = await startHarness(aiProxyMulti, { keepalive_timeout: 111_111, instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: mock.url } }] });
  t.after(() => h.close());
  assert.equal((await postJson(h.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.equal(open(), 1);
  assert.ok(openTransportCount() >= 1);
  await runShutdownHooks();
  assert.equal(openTransportCount(), 0);
  await until(() => open() === 0);
});

test('R-VAR-4: $upstream_addr of a named LLM endpoint is the connected ip:port (shared peer record)', async (t) => {
  const { mock, open } = await mockWithOpenCount();
  t.after(() => mock.close());
  const h = await startHarness(aiProxyMulti, { instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: `http://localhost:${mock.port}` } }] });
  t.after(() => h.close());
  assert.equal((await postJson(h.url + '/v1/chat/completions', CHAT)).status, 200);
  assert.deepEqual(h.contexts[0]!.upstreamAttempts.map((a) => a.addr), [`127.0.0.1:${mock.port}`]);
  assert.equal(lastPeer(`localhost:${mock.port}`), `127.0.0.1:${mock.port}`);
  notePeer('v6.example:443', { remoteAddress: '::1', remotePort: 443 });
  assert.equal(lastPeer('v6.example:443'), '[::1]:443');
});
