// Honest streams and safety caps (spec 12.2, 12.3) through the real CLI
// against mock LLM servers: the official openai and @anthropic-ai/sdk clients
// must raise on a stream that cannot finish instead of returning a truncated
// answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const CHAT = { model: 'gpt-4', messages: [{ role: 'user' as const, content: 'What is 1+1?' }] };
let gw: GatewayProcess;
let m: MockLlm;
let n: MockLlm;

before(async () => {
  [m, n] = await Promise.all([startMockLlm(), startMockLlm()]);
  gw = await startGateway({
    config: { nginx_config: { http: { access_log_format: '$request_uri $status "$llm_stream_error" "$llm_attempts"' } } },
  });
});

after(async () => {
  await gw?.stop();
  await Promise.all([m?.close(), n?.close()]);
});

async function putRoute(id: string, uri: string, plugins: Record<string, unknown>): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, { uri, plugins });
  assert.ok(r.status === 200 || r.status === 201, `PUT route ${id}: ${r.status} ${r.text}`);
}

const openaiProxy = (endpoint: string, extra: Record<string, unknown> = {}) => ({
  'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer k' } }, override: { endpoint }, ...extra },
});

/** the access log line of the request to `uri` (waits for it) */
async function accessLine(uri: string): Promise<string> {
  let line: string | undefined;
  await until(() => {
    let text = '';
    try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
    line = text.split('\n').find((l) => l.startsWith(uri + ' '));
    return line !== undefined;
  }, 15_000, `access log line for ${uri}`);
  return line!;
}

/** reads an SDK stream to its end; returns the text deltas and the error it raised */
async function drainOpenAi(stream: AsyncIterable<any>): Promise<{ text: string; err?: any }> {
  let text = '';
  try {
    for await (const c of stream) text += c.choices?.[0]?.delta?.content ?? '';
  } catch (err) {
    return { text, err };
  }
  return { text };
}

function openai(prefix: string): OpenAI {
  return new OpenAI({ baseURL: gw.proxyUrl + prefix, apiKey: 'client', maxRetries: 0 });
}

test('R-STR-2: the openai SDK raises on an upstream that closes mid-stream; $llm_stream_error = upstream_closed', async () => {
  await putRoute('str2-closed', '/str2-closed/*', openaiProxy(m.url));
  m.reply({ sse: sseChat('gpt-4', ['one ', 'two ', 'three'], null, 5), dropAfter: 3 });
  const stream = await openai('/str2-closed/v1').chat.completions.create({ ...CHAT, stream: true });
  const { text, err } = await drainOpenAi(stream);
  assert.equal(text, 'one two ', 'what was relayed before the break reached the client');
  assert.ok(err instanceof OpenAI.APIError, `an APIError, got ${err}`);
  assert.equal(err.code, 'upstream_closed');
  assert.equal(err.type, 'upstream_error');
  assert.match(err.message, /closed the connection/);
  assert.match(await accessLine('/str2-closed/v1/chat/completions'), / 200 "upstream_closed" /);
  // the raw bytes: one error event last, no [DONE], a clean end (the body read resolves)
  m.reply({ sse: sseChat('gpt-4', ['one ', 'two '], null, 5), dropAfter: 2 });
  const r = await fetch(gw.proxyUrl + '/str2-closed/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, stream: true }) });
  const raw = await r.text();
  assert.ok(!raw.includes('[DONE]'));
  assert.ok(raw.endsWith('data: {"error":{"message":"the upstream closed the connection before the answer was complete","type":"upstream_error","code":"upstream_closed"}}\n\n'), raw);
  m.reset();
});

test('R-STR-2: the anthropic SDK raises on an upstream that closes mid-stream', async () => {
  await putRoute('str2-anthropic', '/str2-anthropic/*', {
    'ai-proxy': { provider: 'anthropic', auth: { header: { 'x-api-key': 'k' } }, override: { endpoint: m.url } },
  });
  const ev = (type: string, data: object) => ({ event: type, data: { type, ...data }, delayMs: 5 });
  m.reply({
    sse: [
      ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-3', content: [], stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' world' } }),
      ev('message_stop', {}),
    ],
    dropAfter: 3,
  });
  const client = new Anthropic({ baseURL: gw.proxyUrl + '/str2-anthropic', apiKey: 'client', maxRetries: 0 });
  const stream = await client.messages.create({ model: 'claude-3', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  let err: any;
  try {
    for await (const e of stream) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
  } catch (e) {
    err = e;
  }
  assert.equal(text, 'Hello');
  assert.ok(err instanceof Anthropic.APIError, `an APIError, got ${err}`);
  assert.match(String(err.message), /closed the connection/);
  assert.match(await accessLine('/str2-anthropic/v1/messages'), / 200 "upstream_closed" /);
  m.reset();
});

/** a raw HTTP/1.1 server answering one valid SSE chunk then broken chunked framing */
async function brokenFraming(): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = net.createServer((sock) => {
    sock.once('data', () => {
      const ev = 'data: {"choices":[{"index":0,"delta":{"content":"half"}}]}\n\n';
      sock.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      sock.write(`${Buffer.byteLength(ev).toString(16)}\r\n${ev}\r\n`);
      setImmediate(() => sock.write('zz-not-a-chunk-size\r\n'));
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => srv.close(() => r())) };
}

test('R-STR-2: broken chunked framing from the upstream ends the stream with malformed_stream', async (t) => {
  const up = await brokenFraming();
  t.after(() => up.close());
  await putRoute('str2-framing', '/str2-framing/*', openaiProxy(up.url));
  const { text, err } = await drainOpenAi(await openai('/str2-framing/v1').chat.completions.create({ ...CHAT, stream: true }));
  assert.equal(text, 'half');
  assert.ok(err instanceof OpenAI.APIError, `an APIError, got ${err}`);
  assert.equal(err.code, 'malformed_stream');
  assert.match(await accessLine('/str2-framing/v1/chat/completions'), / 200 "malformed_stream" /);
});

test('R-STR-2: a complete stream has no error event and an empty $llm_stream_error', async () => {
  await putRoute('str2-ok', '/str2-ok/*', openaiProxy(n.url));
  const { text, err } = await drainOpenAi(await openai('/str2-ok/v1').chat.completions.create({ ...CHAT, stream: true }));
  assert.equal(err, undefined);
  assert.equal(text, '1+1 equals 2.');
  assert.match(await accessLine('/str2-ok/v1/chat/completions'), / 200 "" /);
});
