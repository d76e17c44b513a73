// The converters and GCP tokens through the real CLI: an Anthropic client in
// front of an OpenAI-compatible mock (R-REQ-20..22), and a vertex-ai embeddings
// instance with auth.gcp against a local token endpoint (R-PRV-10, R-PRV-12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm, sseChat } from '../helpers/mock-llm.js';

test('R-REQ-20 R-REQ-21 R-REQ-22 anthropic-messages client to an openai-compatible instance through the gateway', { timeout: 20_000 }, async (t) => {
  const mock = await startMockLlm();
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await mock.close(); });
  const put = await gw.admin('PUT', '/apisix/admin/routes/anth', {
    uri: '/v1/messages',
    plugins: {
      'ai-proxy-multi': {
        instances: [{
          name: 'oa', provider: 'openai-compatible', weight: 1,
          auth: { header: { Authorization: 'Bearer k' } },
          options: { model: 'gpt-4' },
          override: { endpoint: mock.url + '/v1/chat/completions' },
        }],
      },
    },
  });
  assert.ok(put.status < 300, put.text);
  const body = { model: 'claude-3', max_tokens: 50, system: 'be brief', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is 1+1?' }] }] };
  let res = await fetch(gw.proxyUrl + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const msg = await res.json() as any;
  assert.equal(res.status, 200, JSON.stringify(msg));
  assert.equal(msg.type, 'message');
  assert.equal(msg.model, 'gpt-4');
  assert.deepEqual(msg.content, [{ type: 'text', text: '1+1 equals 2.' }]);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(msg.usage, { input_tokens: 23, output_tokens: 8 });
  const sent = mock.requests.at(-1)!.body;
  assert.deepEqual(sent.messages, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'What is 1+1?' }]);
  assert.equal(sent.max_completion_tokens, 50);
  assert.equal(sent.model, 'gpt-4');
  assert.equal('system' in sent, false);

  // streaming
  mock.reply({ sse: sseChat('gpt-4') });
  res = await fetch(gw.proxyUrl + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.filter((e) => e === 'message_stop').length, 1);
  const deltas = [...text.matchAll(/"text_delta","text":"([^"]*)"/g)].map((m) => m[1]).join('');
  assert.equal(deltas, '1+1 equals 2.');

  // an upstream stream in a format the converter does not understand → 502 text
  mock.reply({ sse: ['not json', 'also not json'] });
  res = await fetch(gw.proxyUrl + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  assert.equal(res.status, 502);
  // R-ERR-1: the gateway's own error in the Anthropic error shape (it was plain text)
  const m502 = 'streaming response completed without producing any output; the upstream likely returned a different SSE format than the converter expects';
  assert.deepEqual(await res.json(), { error_msg: m502, type: 'error', error: { type: 'api_error', message: m502 } });

  // R-REQ-20 error text
  res = await fetch(gw.proxyUrl + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [] }) });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { error_msg: 'missing messages', type: 'error', error: { type: 'invalid_request_error', message: 'missing messages' } });
});

test('R-PRV-10 R-PRV-12 vertex-ai embeddings with auth.gcp through the gateway', { timeout: 20_000 }, async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  let tokens = 0;
  const tokenSrv = http.createServer((req, res) => {
    req.resume().on('end', () => {
      tokens++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ access_token: `gcp-tok-${tokens}`, expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => tokenSrv.listen(0, '127.0.0.1', r));
  const tokenUri = `http://127.0.0.1:${(tokenSrv.address() as AddressInfo).port}/token`;
  const mock = await startMockLlm();
  const predictPath = '/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:predict';
  mock.route(predictPath, {
    json: { predictions: [
      { embeddings: { values: [0.1, 0.2], statistics: { token_count: 2 } } },
      { embeddings: { values: [0.3, 0.4], statistics: { token_count: 3 } } },
    ] },
  });
  const gw = await startGateway();
  t.after(async () => { await gw.stop(); await mock.close(); tokenSrv.closeAllConnections(); tokenSrv.close(); });
  const sa = JSON.stringify({ client_email: 'svc@p.iam.gserviceaccount.com', private_key: privateKey, token_uri: tokenUri });
  const put = await gw.admin('PUT', '/apisix/admin/routes/vtx', {
    uri: '/embed',
    plugins: {
      'ai-proxy-multi': {
        instances: [{
          name: 'vertex', provider: 'vertex-ai', weight: 1,
          auth: { header: { Authorization: 'Bearer replaced' }, gcp: { service_account_json: sa } },
          override: { endpoint: mock.url + predictPath },
        }],
      },
    },
  });
  assert.ok(put.status < 300, put.text);
  const ask = async (body: unknown) => {
    const res = await fetch(gw.proxyUrl + '/embed', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  let r = await ask({ model: 'text-embedding-005', input: ['hello', ['big', 'world']] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.object, 'list');
  assert.deepEqual(r.body.data, [
    { object: 'embedding', index: 0, embedding: [0.1, 0.2] },
    { object: 'embedding', index: 1, embedding: [0.3, 0.4] },
  ]);
  assert.deepEqual(r.body.usage, { prompt_tokens: 5, total_tokens: 5 });
  const up = mock.requests.at(-1)!;
  assert.deepEqual(up.body.instances, [{ content: 'hello' }, { content: 'big world' }]);
  assert.equal(up.headers.authorization, 'Bearer gcp-tok-1');
  // cached token
  r = await ask({ input: 'again' });
  assert.equal(r.status, 200);
  assert.equal(mock.requests.at(-1)!.headers.authorization, 'Bearer gcp-tok-1');
  assert.equal(tokens, 1);
  // conversion error text
  r = await ask({ input: 5 });
  assert.equal(r.status, 400);
  // R-ERR-1: in the OpenAI error shape, error_msg kept
  const m400 = '`input` must be string or array';
  assert.deepEqual(r.body, { error_msg: m400, error: { message: m400, type: 'invalid_request_error', code: 'invalid_request' } });
});
