// Response headers of relayed AI responses through the real gateway: the
// quota headers of ai-rate-limiting (R-RL-13) on streamed and non-streamed
// responses, and one Server header, set by the listener (not repeated by the
// engine).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, sseChat, type MockLlm } from '../helpers/mock-llm.js';
import { SERVER_HEADER } from '../../src/core/version.js';

let gw: GatewayProcess;
let mock: MockLlm;

before(async () => {
  mock = await startMockLlm();
  gw = await startGateway();
  const r = await gw.admin('PUT', '/apisix/admin/routes/h', {
    uri: '/h',
    plugins: {
      'ai-proxy-multi': { instances: [{ name: 'a', provider: 'openai', weight: 1, auth: {}, override: { endpoint: mock.url } }] },
      'ai-rate-limiting': { instances: [{ name: 'a', limit: 1000, time_window: 60 }], limit_strategy: 'total_tokens' },
    },
  });
  assert.ok(r.status < 300, r.text);
});

after(async () => {
  await gw?.stop();
  await mock?.close();
});

/** raw response headers (duplicates kept) */
function post(body: unknown): Promise<{ status: number; raw: string[]; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(gw.proxyUrl + '/h', { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, raw: res.rawHeaders, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

for (const stream of [false, true]) {
  test(`R-RL-13: quota headers and a single Server header on a ${stream ? 'streamed' : 'non-streamed'} AI response`, async () => {
    mock.reply(stream ? { sse: sseChat('gpt-4') } : { json: chatCompletion('gpt-4') });
    const r = await post({ messages: [{ role: 'user', content: 'hi' }], stream });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(values(r.raw, 'x-ai-ratelimit-limit-a'), ['1000']);
    assert.equal(values(r.raw, 'x-ai-ratelimit-remaining-a').length, 1);
    assert.equal(values(r.raw, 'x-ai-ratelimit-reset-a').length, 1);
    assert.deepEqual(values(r.raw, 'server'), [SERVER_HEADER]);
    assert.deepEqual(values(r.raw, 'content-type'), [stream ? 'text/event-stream' : 'application/json']);
    if (stream) assert.ok(r.text.includes('data: [DONE]'), r.text);
  });
}
