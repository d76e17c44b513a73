// R-USG-1, R-USG-2 end to end: the usage chunk asked for upstream and
// stripped for clients that did not ask; streams without usage (and a client
// that leaves mid-stream) charged the tokenizer's count of what was relayed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getEncoding } from 'js-tiktoken';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';
import { promptText } from '../../src/llm/tokens.js';

const enc = getEncoding('o200k_base');
const count = (s: string) => enc.encode(s).length;
const LIMIT = 100_000;
const REMAINING = 'x-ai-ratelimit-remaining-ai-proxy-openai';
const CHAT = { model: 'gpt-4o', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Count from one to twenty in words.' }], stream: true };
const PIECES = ['One, ', 'two, ', 'three, ', 'four, ', 'five, ', 'six, ', 'seven, ', 'eight.'];

async function put(gw: GatewayProcess, path: string, body: unknown): Promise<void> {
  const r = await gw.admin('PUT', path, body);
  assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${r.text}`);
}

function route(mock: MockLlm, uri: string) {
  return {
    uri,
    plugins: {
      'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer sk' } }, override: { endpoint: mock.url } },
      'ai-rate-limiting': { limit: LIMIT, time_window: 600 },
    },
  };
}

async function stream(gw: GatewayProcess, path: string, body: unknown): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(gw.proxyUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** the data members of the SSE events of `text` */
const events = (text: string) => text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));

describe('R-USG-1/2 usage never lost', () => {
  let gw: GatewayProcess;
  let mock: MockLlm;
  before(async () => {
    mock = await startMockLlm();
    gw = await startGateway({ config: { nginx_config: { http: { access_log_format: '$uri $request_type $llm_usage_source $llm_prompt_tokens $llm_completion_tokens $llm_total_tokens' } } } });
  });
  after(async () => {
    await gw?.stop();
    await mock?.close();
  });

  /** access-log lines of `uri` for streamed requests, split in fields */
  const streamLines = (uri: string) => {
    let text = '';
    try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
    return text.split('\n').map((l) => l.split(' ')).filter((f) => f[0] === uri && f[1] === 'ai_stream');
  };

  /** the quota's remaining tokens, read by a request that costs nothing (usage 0) */
  async function remaining(path: string): Promise<number> {
    mock.replyOnce({ json: chatCompletion('gpt-4o', '', { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }) });
    const r = await stream(gw, path, { ...CHAT, stream: false });
    return Number(r.headers.get(REMAINING));
  }

  test('R-USG-1 include_usage asked upstream; the usage-only chunk stripped for a client that did not ask, relayed to one that did', async () => {
    mock.reset();
    await put(gw, '/apisix/admin/routes/u1', route(mock, '/u1'));
    const plain = await stream(gw, '/u1', CHAT);
    assert.equal(plain.status, 200);
    await until(() => streamLines('/u1').length === 1, 3000, 'the access-log line');
    assert.equal(streamLines('/u1')[0]![2], 'provider');
    assert.deepEqual(mock.requests[0]!.body.stream_options, { include_usage: true });
    const evs = events(plain.text);
    assert.equal(evs.at(-1), '[DONE]');
    for (const e of evs.slice(0, -1)) assert.ok(JSON.parse(e).choices.length > 0, `no chunk with empty choices: ${e}`);
    const asked = await stream(gw, '/u1', { ...CHAT, stream_options: { include_usage: true } });
    const usageChunks = events(asked.text).filter((e) => e !== '[DONE]' && JSON.parse(e).choices.length === 0);
    assert.equal(usageChunks.length, 1);
    assert.deepEqual(JSON.parse(usageChunks[0]!).usage, { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 });
  });

  test('R-USG-1 an upstream usage chunk split across two writes is still stripped', async () => {
    const ev = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })}\n\n`;
    const first = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'hi' } }] })}\n\n`;
    mock.replyOnce({ chunks: [first + ev.slice(0, 30), ev.slice(30), 'data: [DONE]\n\n'] });
    const r = await stream(gw, '/u1', CHAT);
    assert.deepEqual(events(r.text).map((e) => e === '[DONE]' ? e : JSON.parse(e).choices.length), [1, '[DONE]']);
  });

  test('R-USG-2 a stream without usage is charged the tokenizer count of the prompt and of the text relayed', async () => {
    await put(gw, '/apisix/admin/routes/u2', route(mock, '/u2'));
    const before = await remaining('/u2');
    assert.equal(before, LIMIT);
    mock.replyOnce({ sse: sseChat('gpt-4o', PIECES, null) });
    const r = await stream(gw, '/u2', CHAT);
    assert.equal(r.status, 200);
    const p = count(promptText(CHAT));
    const c = count(PIECES.join(''));
    await until(() => streamLines('/u2').length === 1, 3000, 'the access-log line');
    assert.deepEqual(streamLines('/u2')[0], ['/u2', 'ai_stream', 'estimated', String(p), String(c), String(p + c)]);
    assert.equal(await remaining('/u2'), LIMIT - (p + c));
  });

  test('R-USG-2 a non-streamed answer without usage is charged the tokenizer count of the prompt and of its text', async () => {
    await put(gw, '/apisix/admin/routes/u4', route(mock, '/u4'));
    assert.equal(await remaining('/u4'), LIMIT);
    const answer = 'One, two, three, four, five, six, seven, eight, nine, ten.';
    mock.replyOnce({ json: chatCompletion('gpt-4o', answer, null) });
    const r = await stream(gw, '/u4', { ...CHAT, stream: false });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).usage, null, 'the answer is relayed unchanged');
    const p = count(promptText(CHAT));
    const c = count(answer);
    const lines = () => {
      let text = '';
      try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
      return text.split('\n').map((l) => l.split(' ')).filter((f) => f[0] === '/u4' && f[2] === 'estimated');
    };
    await until(() => lines().length === 1, 3000, 'the access-log line').catch((e) => {
      throw new Error(`${e.message}: ${readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8').split('\n').filter((l) => l.startsWith('/u4')).join(' | ')}`);
    });
    assert.deepEqual(lines()[0], ['/u4', 'ai_chat', 'estimated', String(p), String(c), String(p + c)]);
    assert.equal(await remaining('/u4'), LIMIT - (p + c));
  });

  test('R-USG-2 a client that disconnects mid-stream still has its relayed tokens charged', async () => {
    await put(gw, '/apisix/admin/routes/u3', route(mock, '/u3'));
    assert.equal(await remaining('/u3'), LIMIT);
    mock.replyOnce({ sse: sseChat('gpt-4o', [...PIECES, ...PIECES, ...PIECES], { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, 80) });
    const ac = new AbortController();
    const res = await fetch(gw.proxyUrl + '/u3', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(CHAT), signal: ac.signal });
    const reader = res.body!.getReader();
    let got = '';
    const dec = new TextDecoder();
    while (!got.includes('three, ')) {
      const { value, done } = await reader.read();
      if (done) break;
      got += dec.decode(value);
    }
    ac.abort();
    const n = mock.requests.length;
    await until(() => mock.requests[n - 1]!.aborted === true, 3000, 'upstream aborted');
    await until(() => streamLines('/u3').length === 1, 3000, 'the access-log line');
    assert.equal(streamLines('/u3')[0]![2], 'estimated');
    const left = await remaining('/u3');
    const p = count(promptText(CHAT));
    const seen = events(got).filter((e) => e !== '[DONE]').map((e) => JSON.parse(e).choices[0]?.delta?.content ?? '').join('');
    const charged = LIMIT - left;
    assert.ok(charged >= p + count(seen), `charged ${charged} ≥ prompt ${p} + relayed ${count(seen)}`);
    assert.ok(charged < p + count([...PIECES, ...PIECES, ...PIECES].join('')), `charged ${charged}: only what was relayed before the client left`);
  });
});
