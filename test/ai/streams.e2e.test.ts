// Honest streams and safety caps (spec 12.2, 12.3) through the real CLI
// against mock LLM servers: the official openai and @anthropic-ai/sdk clients
// must raise on a stream that cannot finish instead of returning a truncated
// answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, sseChat, sseEvent, type MockLlm } from '../helpers/mock-llm.js';
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

async function rawPost(uri: string, body: unknown): Promise<{ status: number; text: string; ms: number }> {
  const t0 = Date.now();
  const r = await fetch(gw.proxyUrl + uri, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, text, ms: Date.now() - t0 };
}

test('R-STR-3: stream_idle_timeout_ms ends a silent stream with upstream_timeout; a stream with shorter gaps finishes', async () => {
  await putRoute('str3', '/str3/*', openaiProxy(m.url, { stream_idle_timeout_ms: 500 }));
  m.reply({ sse: [...sseChat('gpt-4', ['a', 'b'], null).slice(0, 2), { data: { choices: [{ index: 0, delta: { content: 'late' } }] }, delayMs: 6000 }] });
  const { text, err } = await drainOpenAi(await openai('/str3/v1').chat.completions.create({ ...CHAT, stream: true }));
  assert.equal(text, 'a');
  assert.ok(err instanceof OpenAI.APIError, `an APIError, got ${err}`);
  assert.equal(err.code, 'upstream_timeout');
  assert.match(err.message, /sent nothing for 500 ms/);
  assert.match(await accessLine('/str3/v1/chat/completions'), / 200 "upstream_timeout" /);
  // the gaps (30 ms) stay under the idle limit: the stream completes
  m.reply({ sse: sseChat('gpt-4', ['x', 'y', 'z'], null, 30) });
  const ok = await rawPost('/str3/v1/chat/completions', { ...CHAT, stream: true });
  assert.ok(ok.text.endsWith('data: [DONE]\n\n'), ok.text);
  m.reset();
});

test('R-RSP-10: a stream head the upstream sends alone reaches the client before the first event', { timeout: 20_000 }, async () => {
  // the upstream sends its first event only once the client has the head:
  // a head held back until the first chunk would hang this test
  let clientHasHead!: () => void;
  const headSeen = new Promise<void>((resolve) => { clientHasHead = resolve; });
  const up = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      void headSeen.then(() => {
        res.write(sseEvent({ data: { choices: [{ index: 0, delta: { content: 'after the head' } }] } }));
        res.end(sseEvent('[DONE]'));
      });
    });
  });
  await new Promise<void>((resolve) => up.listen(0, '127.0.0.1', resolve));
  try {
    await putRoute('rsp10-head', '/rsp10-head/*', openaiProxy(`http://127.0.0.1:${(up.address() as net.AddressInfo).port}/v1/chat/completions`));
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(gw.proxyUrl + '/rsp10-head/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        if (res.statusCode !== 200 || !/text\/event-stream/.test(String(res.headers['content-type']))) {
          return reject(new Error(`expected a 200 event stream, got ${res.statusCode} ${res.headers['content-type']}`));
        }
        clientHasHead();
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ ...CHAT, stream: true }));
    });
    assert.match(body, /after the head/);
    assert.ok(body.endsWith('data: [DONE]\n\n'), body);
  } finally {
    up.closeAllConnections();
    await new Promise<void>((resolve) => up.close(() => resolve()));
  }
});

test('R-STR-3: the schema takes stream_idle_timeout_ms on ai-proxy-multi and rejects 0', async () => {
  const inst = { name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: m.url } };
  const good = await gw.admin('PUT', '/apisix/admin/routes/str3-multi', { uri: '/str3-multi', plugins: { 'ai-proxy-multi': { stream_idle_timeout_ms: 1000, instances: [inst] } } });
  assert.ok(good.status === 200 || good.status === 201, good.text);
  const bad = await gw.admin('PUT', '/apisix/admin/routes/str3-multi', { uri: '/str3-multi', plugins: { 'ai-proxy-multi': { stream_idle_timeout_ms: 0, instances: [inst] } } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error_msg, /stream_idle_timeout_ms/);
});

test('R-CAP-1: a body past max_req_body_size is 413 before anything goes upstream, without reading it to the end', async () => {
  await putRoute('cap1', '/cap1/*', openaiProxy(n.url, { max_req_body_size: 1000 }));
  n.reset();
  const big = JSON.stringify({ ...CHAT, messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
  const r = await rawPost('/cap1/v1/chat/completions', big);
  assert.equal(r.status, 413);
  // (R-ERR-1 may add the client protocol's error shape beside error_msg)
  assert.equal(JSON.parse(r.text).error_msg, 'request body too large');
  // chunked, no length: the answer comes while the client still holds the body open
  const status = await new Promise<number>((resolve, reject) => {
    const u = new URL(gw.proxyUrl + '/cap1/v1/chat/completions');
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
      req.destroy();
    });
    req.on('error', (e) => reject(e));
    req.write('{"messages":[{"role":"user","content":"' + 'y'.repeat(1500));
  });
  assert.equal(status, 413);
  // within the limit: proxied
  const ok = await rawPost('/cap1/v1/chat/completions', CHAT);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(n.requests.length, 1, 'only the request within the limit reached the upstream');
  const bad = await gw.admin('PUT', '/apisix/admin/routes/cap1', { uri: '/cap1/*', plugins: openaiProxy(n.url, { max_req_body_size: 0 }) });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error_msg, /max_req_body_size/);
});

const slowThenFast = (slow: string, fast: string, extra: Record<string, unknown>, slowExtra: Record<string, unknown> = {}) => ({
  'ai-proxy-multi': {
    fallback_strategy: ['http_5xx'],
    ...extra,
    instances: [
      { name: 'slow', provider: 'openai', weight: 1, priority: 1, auth: {}, override: { endpoint: slow }, ...slowExtra },
      { name: 'fast', provider: 'openai', weight: 1, priority: 0, auth: {}, override: { endpoint: fast } },
    ],
  },
});

test('R-STR-1: an attempt without its first byte within ttft_timeout_ms falls back (outcome ttft_timeout)', async () => {
  m.reset();
  n.reset();
  m.reply({ delayMs: 5000, json: { never: 'used' } });
  await putRoute('str1', '/str1/*', slowThenFast(m.url, n.url, { ttft_timeout_ms: 400 }));
  const r = await rawPost('/str1/v1/chat/completions', CHAT);
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).choices[0].message.content, '1+1 equals 2.');
  assert.ok(r.ms < 4000, `answered after ${r.ms} ms`);
  assert.match(await accessLine('/str1/v1/chat/completions'), / 200 "" "slow:ttft_timeout:\d+,fast:ok:\d+"$/);
});

test('R-STR-1: streamed, the head is held back until the first event; instances.ttft_timeout_ms wins', async () => {
  m.reset();
  n.reset();
  // the head comes at once, the first event only after 5 s
  m.reply({ sse: [{ data: { choices: [{ index: 0, delta: { content: 'slow' } }] }, delayMs: 5000 }, '[DONE]'] });
  await putRoute('str1s', '/str1s/*', slowThenFast(m.url, n.url, { ttft_timeout_ms: 20000 }, { ttft_timeout_ms: 400 }));
  const { text, err } = await drainOpenAi(await openai('/str1s/v1').chat.completions.create({ ...CHAT, stream: true }));
  assert.equal(err, undefined);
  assert.equal(text, '1+1 equals 2.');
  assert.match(await accessLine('/str1s/v1/chat/completions'), / 200 "" "slow:ttft_timeout:\d+,fast:ok:\d+"$/);
});

test('R-STR-1: without a fallback the client gets 504', async () => {
  m.reset();
  m.reply({ delayMs: 5000, json: { never: 'used' } });
  await putRoute('str1-single', '/str1-single/*', openaiProxy(m.url, { ttft_timeout_ms: 300 }));
  const r = await rawPost('/str1-single/v1/chat/completions', CHAT);
  assert.equal(r.status, 504);
  assert.ok(r.ms < 4000, `answered after ${r.ms} ms`);
  assert.match(await accessLine('/str1-single/v1/chat/completions'), / 504 "" "ai-proxy-openai:ttft_timeout:\d+"$/);
  const bad = await gw.admin('PUT', '/apisix/admin/routes/str1-single', { uri: '/x', plugins: slowThenFast(m.url, n.url, {}, { ttft_timeout_ms: 0 }) });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error_msg, /ttft_timeout_ms/);
  m.reset();
});

test('R-CAP-2: a stream still running after max_stream_duration_ms ends with stream_too_long', async () => {
  m.reset();
  m.reply({ sse: sseChat('gpt-4', Array.from({ length: 60 }, () => 'x'), null, 50) });
  await putRoute('cap2', '/cap2/*', openaiProxy(m.url, { max_stream_duration_ms: 500 }));
  const t0 = Date.now();
  const { text, err } = await drainOpenAi(await openai('/cap2/v1').chat.completions.create({ ...CHAT, stream: true }));
  assert.ok(Date.now() - t0 < 2500, `ended after ${Date.now() - t0} ms (the whole stream takes 3 s)`);
  assert.ok(text.length > 0 && text.length < 60, `relayed ${text.length} deltas before the cap`);
  assert.ok(err instanceof OpenAI.APIError, `an APIError, got ${err}`);
  assert.equal(err.code, 'stream_too_long');
  assert.match(err.message, /max_stream_duration_ms \(500 ms\)/);
  assert.match(await accessLine('/cap2/v1/chat/completions'), / 200 "stream_too_long" /);
  await until(() => m.requests[0]!.aborted, 5000, 'the upstream request aborted');
  m.reset();
});

test('R-CAP-3: an answer past max_response_bytes: buffered 502, streamed response_too_large', async () => {
  m.reset();
  await putRoute('cap3', '/cap3/*', openaiProxy(m.url, { max_response_bytes: 600 }));
  m.reply({ json: { choices: [{ index: 0, message: { role: 'assistant', content: 'z'.repeat(2000) } }] } });
  const r = await rawPost('/cap3/v1/chat/completions', CHAT);
  assert.equal(r.status, 502);
  // a small answer passes
  m.reply({ json: { choices: [{ index: 0, message: { role: 'assistant', content: 'small' } }] } });
  assert.equal((await rawPost('/cap3/v1/chat/completions', CHAT)).status, 200);
  m.reply({ sse: sseChat('gpt-4', Array.from({ length: 40 }, (_, i) => `piece${i} `), null, 2) });
  const s = await rawPost('/cap3/v1/chat/completions', { ...CHAT, stream: true });
  assert.equal(s.status, 200);
  const events = s.text.split('\n\n').filter(Boolean);
  const last = JSON.parse(events.at(-1)!.slice('data: '.length));
  assert.equal(last.error.code, 'response_too_large');
  assert.ok(!s.text.includes('[DONE]'));
  assert.ok(Buffer.byteLength(s.text) - Buffer.byteLength(events.at(-1)!) <= 600 + 2, 'no more than the cap was relayed');
  m.reset();
});

test('R-CAP-4: override.llm_options and override.request_body reach the upstream body; schema errors name the field', async () => {
  n.reset();
  await putRoute('cap4', '/cap4/*', {
    'ai-proxy-multi': {
      streaming_flush_interval_ms: 0,
      instances: [{
        name: 'oa', provider: 'openai', weight: 1, auth: {},
        override: {
          endpoint: n.url,
          llm_options: { max_tokens: 128 },
          request_body: { 'openai-chat': { temperature: 0.1, metadata: { team: 'a' } }, 'anthropic-messages': { top_k: 3 } },
        },
      }],
    },
  });
  const r = await rawPost('/cap4/v1/chat/completions', { ...CHAT, temperature: 0.9, metadata: { user: 'u' } });
  assert.equal(r.status, 200, r.text);
  const sent = n.requests[0]!.body;
  assert.equal(sent.max_completion_tokens, 128);
  assert.equal(sent.max_tokens, undefined);
  assert.equal(sent.temperature, 0.9, 'the client value wins without request_body_force_override');
  assert.deepEqual(sent.metadata, { user: 'u', team: 'a' });
  assert.equal(sent.top_k, undefined);
  const bad1 = await gw.admin('PUT', '/apisix/admin/routes/cap4', { uri: '/cap4/*', plugins: openaiProxy(n.url, { override: { endpoint: n.url, llm_options: { max_tokens: 1, temperature: 1 } } }) });
  assert.equal(bad1.status, 400);
  assert.match(bad1.body.error_msg, /llm_options|temperature/);
  const bad2 = await gw.admin('PUT', '/apisix/admin/routes/cap4', { uri: '/cap4/*', plugins: openaiProxy(n.url, { override: { endpoint: n.url, request_body: { 'no-such-protocol': {} } } }) });
  assert.equal(bad2.status, 400);
  assert.match(bad2.body.error_msg, /request_body|no-such-protocol/);
});
