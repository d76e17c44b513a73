// R-BDR-1 with R-STR-2 and R-USG-2: a Bedrock converse-stream whose AWS
// event-stream framing breaks (a flipped message CRC, a stream that stops
// inside a message) ends the client's stream with the malformed_stream error
// event and no [DONE], or falls back when nothing was sent yet; a stream
// without usage is charged the tokenizer's count of the text relayed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getEncoding } from 'js-tiktoken';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { promptText } from '../../src/llm/tokens.js';

const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => Buffer.from(s, 'utf8'));
function frame(eventType: string, payload: unknown): Buffer {
  return Buffer.from(codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':content-type': { type: 'string', value: 'application/json' },
      ':event-type': { type: 'string', value: eventType },
    },
    body: Buffer.from(JSON.stringify(payload)),
  }));
}
const delta = (text: string) => frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } });
// Bedrock models count with cl100k_base (src/llm/tokens.ts)
const enc = getEncoding('cl100k_base');
const count = (s: string) => enc.encode(s).length;

const RELAYED = 'hello there, this is a long answer of many words ';
const LOST = 'more text that never arrives';
const CHAT = { model: 'x', stream: true, messages: [{ role: 'user', content: 'say hello' }] };

/** the frames each model (path segment) answers with; `broken` is the last frame, damaged or cut */
function answer(model: string): { frames: Buffer[]; last?: Buffer } {
  const start = frame('messageStart', { role: 'assistant' });
  const bad = delta(LOST);
  switch (model) {
    case 'badcrc': {
      const b = Buffer.from(bad);
      b[b.length - 1] ^= 0xff;
      return { frames: [start, delta(RELAYED)], last: b };
    }
    case 'truncated': return { frames: [start, delta(RELAYED)], last: bad.subarray(0, bad.length - 5) };
    case 'badfirst': {
      const b = Buffer.from(start);
      b[b.length - 1] ^= 0xff;
      return { frames: [], last: b };
    }
    // ends cleanly but without the metadata event that carries the usage
    case 'nousage': return { frames: [start, delta(RELAYED), frame('contentBlockStop', { contentBlockIndex: 0 }), frame('messageStop', { stopReason: 'end_turn' })] };
    default: return {
      frames: [start, delta('fine'), frame('contentBlockStop', { contentBlockIndex: 0 }), frame('messageStop', { stopReason: 'end_turn' }),
        frame('metadata', { usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 } })],
    };
  }
}

let gw: GatewayProcess;
let srv: http.Server;
let url = '';

before(async () => {
  srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const model = decodeURIComponent(req.url!.split('/')[2] ?? '');
      const { frames, last } = answer(model);
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      for (const f of frames) res.write(f);
      res.end(last);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  gw = await startGateway({ config: { nginx_config: { http: { access_log_format: '$uri "$llm_stream_error" $llm_usage_source $llm_prompt_tokens $llm_completion_tokens "$llm_attempts"' } } } });
});
after(async () => {
  await gw?.stop();
  srv?.closeAllConnections();
  srv?.close();
});

const instance = (name: string, model: string, extra: Record<string, unknown> = {}) => ({
  name, provider: 'bedrock', weight: 1,
  provider_conf: { region: 'us-east-1' },
  auth: { aws: { access_key_id: 'AKID', secret_access_key: 'SECRET' } },
  override: { endpoint: url },
  options: { model },
  ...extra,
});

async function route(uri: string, plugin: Record<string, unknown>): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes${uri}`, { uri, plugins: { 'ai-proxy-multi': plugin } });
  assert.ok(r.status < 300, r.text);
}

async function chat(uri: string): Promise<{ status: number; text: string }> {
  const res = await fetch(gw.proxyUrl + uri, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** the access-log line of `uri`, split at spaces outside quotes */
async function logLine(uri: string): Promise<string[]> {
  const line = () => {
    let text = '';
    try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
    return text.split('\n').find((l) => l.startsWith(uri + ' '));
  };
  await until(() => line() !== undefined, 5000, `the access-log line of ${uri}`);
  return line()!.match(/"[^"]*"|\S+/g)!.map((f) => f.replace(/^"|"$/g, ''));
}

/** the data members of the SSE events of `text` */
const events = (text: string) => text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));

for (const mode of ['badcrc', 'truncated'] as const) {
  test(`R-STR-2 R-BDR-1 a converse-stream with ${mode === 'badcrc' ? 'a flipped message CRC' : 'a cut message'} after output ends with malformed_stream, no [DONE]; R-USG-2 the relayed text is charged`, { timeout: 30_000 }, async () => {
    const uri = `/br-${mode}/v1/chat/completions`;
    await route(uri, { instances: [instance('br', mode)] });
    const r = await chat(uri);
    assert.equal(r.status, 200);
    const evs = events(r.text);
    assert.ok(!evs.includes('[DONE]'), `a broken stream must not end with [DONE]: ${r.text}`);
    const content = evs.slice(0, -1).map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? '').join('');
    assert.equal(content, RELAYED, 'the text before the broken message is relayed, nothing after it');
    assert.deepEqual(JSON.parse(evs.at(-1)!), { error: { message: 'the upstream sent a malformed stream', type: 'upstream_error', code: 'malformed_stream' } });
    const f = await logLine(uri);
    assert.deepEqual(f.slice(1, 5), ['malformed_stream', 'estimated', String(count(promptText(CHAT))), String(count(RELAYED))]);
    assert.match(f[5]!, /^br:502:\d+$/);
  });
}

test('R-USG-2 R-BDR-1 a converse-stream that ends without metadata is charged the tokenizer count of the text relayed', { timeout: 30_000 }, async () => {
  const uri = '/br-nousage/v1/chat/completions';
  await route(uri, { instances: [instance('br', 'nousage')] });
  const r = await chat(uri);
  assert.equal(r.status, 200);
  assert.ok(events(r.text).includes('[DONE]'), r.text);
  const f = await logLine(uri);
  assert.deepEqual(f.slice(1, 5), ['', 'estimated', String(count(promptText(CHAT))), String(count(RELAYED))]);
});

test('R-STR-2 R-BDR-1 a converse-stream broken before anything was sent falls back to the next instance', { timeout: 30_000 }, async () => {
  const uri = '/br-fallback/v1/chat/completions';
  await route(uri, {
    fallback_strategy: ['http_5xx'],
    instances: [instance('bad', 'badfirst', { priority: 2 }), instance('good', 'ok', { priority: 1 })],
  });
  const r = await chat(uri);
  assert.equal(r.status, 200);
  const evs = events(r.text);
  assert.equal(evs.at(-1), '[DONE]', r.text);
  assert.ok(evs.some((e) => e !== '[DONE]' && JSON.parse(e).choices?.[0]?.delta?.content === 'fine'), r.text);
  const f = await logLine(uri);
  assert.equal(f[1], '');
  assert.match(f[5]!, /^bad:502:\d+,good:ok:\d+$/);
});

test('R-STR-2 R-BDR-1 a native Converse client of a broken stream gets the bytes relayed and $llm_stream_error = malformed_stream', { timeout: 30_000 }, async () => {
  const uri = '/br-native/model/m/converse';
  await route(uri, { instances: [instance('br', 'badcrc')] });
  const res = await fetch(gw.proxyUrl + uri, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: [{ text: 'say hello' }] }] }), signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/vnd\.amazon\.eventstream/);
  const body = Buffer.from(await res.arrayBuffer());
  // the frames before the broken one decode; the client's SDK sees the bad CRC itself
  const first = body.readUInt32BE(0);
  assert.equal(codec.decode(body.subarray(0, first)).headers[':event-type']!.value, 'messageStart');
  const f = await logLine(uri);
  assert.equal(f[1], 'malformed_stream');
});
