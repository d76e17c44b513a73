// R-BDR-1: provider bedrock through the real gateway against a mock Bedrock
// runtime that verifies each request's SigV4 signature (recomputed here with
// @smithy/signature-v4 from the bytes received) and answers converse-stream
// with AWS event-stream frames encoded by @smithy/core's EventStreamCodec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/core/serde';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { startGateway } from '../helpers/gateway.js';

const REGION = 'us-west-2';
const KEYS = { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', session_token: 'session-token-1' };
const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => Buffer.from(s, 'utf8'));
const Sha256 = Hash.bind(null, 'sha256') as any;

interface Seen { path: string; body: any; headers: http.IncomingHttpHeaders; signatureOk: boolean }

function frame(eventType: string, payload: unknown, messageType = 'event'): Uint8Array {
  const headers: Record<string, { type: 'string'; value: string }> = {
    ':message-type': { type: 'string', value: messageType },
    ':content-type': { type: 'string', value: 'application/json' },
  };
  headers[messageType === 'exception' ? ':exception-type' : ':event-type'] = { type: 'string', value: eventType };
  return codec.encode({ headers, body: Buffer.from(JSON.stringify(payload)) });
}

const STREAM_EVENTS: [string, unknown][] = [
  ['messageStart', { role: 'assistant' }],
  ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: '1+1 ' } }],
  ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'equals 2.' } }],
  ['contentBlockStop', { contentBlockIndex: 0 }],
  ['messageStop', { stopReason: 'end_turn' }],
  ['metadata', { usage: { inputTokens: 12, outputTokens: 5, totalTokens: 17 }, metrics: { latencyMs: 10 } }],
];

/** verifies the signature the way AWS does: same canonical request, same key, same date */
async function verify(req: http.IncomingMessage, raw: Buffer, port: number): Promise<boolean> {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/bedrock\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(auth);
  if (!m || m[1] !== KEYS.access_key_id || m[3] !== REGION) return false;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!d) return false;
  const headers: Record<string, string> = {};
  for (const h of m[4]!.split(';')) headers[h] = String(req.headers[h] ?? '');
  const url = new URL(req.url!, 'http://x');
  const signer = new SignatureV4({
    service: 'bedrock', region: REGION, sha256: Sha256,
    credentials: { accessKeyId: KEYS.access_key_id, secretAccessKey: KEYS.secret_access_key, sessionToken: KEYS.session_token },
  });
  const expected = await signer.sign(
    { method: req.method!, protocol: 'http:', hostname: '127.0.0.1', port, path: req.url!.split('?')[0]!, query: Object.fromEntries(url.searchParams), headers, body: raw },
    { signingDate: new Date(`${d[1]}-${d[2]}-${d[3]}T${d[4]}:${d[5]}:${d[6]}Z`) },
  );
  return expected.headers.authorization === auth && req.headers['x-amz-security-token'] === KEYS.session_token;
}

async function startMockBedrock(t: import('node:test').TestContext) {
  const seen: Seen[] = [];
  let port = 0;
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', async () => {
      const raw = Buffer.concat(chunks);
      const signatureOk = await verify(req, raw, port);
      const body = JSON.parse(raw.toString('utf8'));
      seen.push({ path: req.url!, body, headers: req.headers, signatureOk });
      if (!signatureOk) {
        res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidSignatureException' });
        return res.end(JSON.stringify({ message: 'The request signature we calculated does not match the signature you provided.' }));
      }
      if (req.url!.endsWith('/converse-stream')) {
        res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
        // frames split at odd places across writes: the gateway must reassemble them
        const bytes = Buffer.concat(STREAM_EVENTS.map(([e, p]) => frame(e, p)));
        for (let i = 0; i < bytes.length; i += 37) res.write(bytes.subarray(i, i + 37));
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        output: { message: { role: 'assistant', content: [{ text: '1+1 equals 2.' }] } },
        stopReason: 'end_turn',
        usage: { inputTokens: 12, outputTokens: 5, totalTokens: 17 },
        metrics: { latencyMs: 9 },
      }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  port = (srv.address() as AddressInfo).port;
  t.after(() => { srv.closeAllConnections(); srv.close(); });
  return { url: `http://127.0.0.1:${port}`, seen };
}

const bedrockInstance = (url: string, extra: Record<string, unknown> = {}) => ({
  name: 'br', provider: 'bedrock', weight: 1,
  provider_conf: { region: REGION },
  auth: { aws: KEYS },
  override: { endpoint: url },
  ...extra,
});

test('R-BDR-1 the Admin API names the missing bedrock region and AWS key', { timeout: 20_000 }, async (t) => {
  const gw = await startGateway();
  t.after(() => gw.stop());
  const put = (plugins: unknown) => gw.admin('PUT', '/apisix/admin/routes/b', { uri: '/b', plugins });
  let r = await put({ 'ai-proxy-multi': { instances: [{ name: 'br', provider: 'bedrock', weight: 1, auth: { aws: KEYS } }] } });
  assert.equal(r.status, 400);
  assert.match(r.body.error_msg, /instance br: provider bedrock needs provider_conf\.region/);
  const { secret_access_key: _s, ...noSecret } = KEYS;
  r = await put({ 'ai-proxy-multi': { instances: [{ name: 'br', provider: 'bedrock', weight: 1, provider_conf: { region: REGION }, auth: { aws: noSecret } }] } });
  assert.equal(r.status, 400);
  assert.match(r.body.error_msg, /auth\.aws\.secret_access_key/);
  r = await put({ 'ai-proxy': { provider: 'bedrock', provider_conf: { region: REGION }, auth: { header: { a: 'b' } } } });
  assert.equal(r.status, 400);
  assert.match(r.body.error_msg, /provider bedrock needs auth\.aws/);
  r = await put({ 'ai-proxy': { provider: 'bedrock', provider_conf: { region: REGION }, auth: { aws: KEYS } } });
  assert.ok(r.status < 300, r.text);
  assert.equal((await gw.admin('GET', '/apisix/admin/routes/b')).status, 200);
});

test('R-BDR-1 OpenAI chat converted to Converse, SigV4-signed, answers converted back (buffered and streamed)', { timeout: 30_000 }, async (t) => {
  const mock = await startMockBedrock(t);
  const gw = await startGateway();
  t.after(() => gw.stop());
  const ok = (r: { status: number; text: string }) => assert.ok(r.status < 300, r.text);
  ok(await gw.admin('PUT', '/apisix/admin/routes/br', {
    uri: '/v1/*',
    plugins: { 'ai-proxy-multi': { instances: [bedrockInstance(mock.url, { options: { model: 'anthropic.claude-3-haiku-20240307-v1:0' } })] } },
  }));
  const client = new OpenAI({ apiKey: 'client-key', baseURL: gw.proxyUrl + '/v1', maxRetries: 0 });
  const chat = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'What is 1+1?' }],
    max_tokens: 64, temperature: 0.2, top_p: 0.9, stop: 'END',
  });
  assert.equal(chat.choices[0]!.message.content, '1+1 equals 2.');
  assert.equal(chat.choices[0]!.finish_reason, 'stop');
  assert.equal(chat.model, 'anthropic.claude-3-haiku-20240307-v1:0');
  assert.deepEqual(chat.usage, { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 });
  let s = mock.seen.at(-1)!;
  assert.equal(s.signatureOk, true, 'valid SigV4 signature with the session token');
  // options.model wins over the body's, one path segment
  assert.equal(s.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
  assert.deepEqual(s.body, {
    messages: [{ role: 'user', content: [{ text: 'What is 1+1?' }] }],
    system: [{ text: 'be brief' }],
    inferenceConfig: { maxTokens: 64, temperature: 0.2, topP: 0.9, stopSequences: ['END'] },
  });
  assert.notEqual(s.headers.authorization, 'Bearer client-key');

  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'What is 1+1?' }], stream: true });
  let text = '';
  let usage: any;
  let finish: string | null | undefined;
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, '1+1 equals 2.');
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 });
  s = mock.seen.at(-1)!;
  assert.equal(s.signatureOk, true);
  assert.equal(s.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream');
  assert.equal('stream' in s.body, false, 'Bedrock decides streaming by path');
});

test('R-BDR-1 native Converse passes through; the body model serves without options.model; no model is 400; a bad signature is refused', { timeout: 30_000 }, async (t) => {
  const mock = await startMockBedrock(t);
  const gw = await startGateway();
  t.after(() => gw.stop());
  const ok = (r: { status: number; text: string }) => assert.ok(r.status < 300, r.text);
  ok(await gw.admin('PUT', '/apisix/admin/routes/native', {
    uri: '/bedrock/*',
    plugins: { 'ai-proxy': { provider: 'bedrock', provider_conf: { region: REGION }, auth: { aws: KEYS }, override: { endpoint: mock.url } } },
  }));
  const converse = { messages: [{ role: 'user', content: [{ text: 'What is 1+1?' }] }], inferenceConfig: { maxTokens: 10 } };
  const post = (path: string, body: unknown) => fetch(gw.proxyUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  let res = await post('/bedrock/model/amazon.nova-lite-v1:0/converse', { ...converse, model: 'amazon.nova-lite-v1:0' });
  assert.equal(res.status, 200);
  const answer = await res.json() as any;
  assert.deepEqual(answer.output.message.content, [{ text: '1+1 equals 2.' }], 'the Converse answer is relayed as it is');
  assert.deepEqual(answer.usage, { inputTokens: 12, outputTokens: 5, totalTokens: 17 });
  let s = mock.seen.at(-1)!;
  assert.equal(s.signatureOk, true);
  assert.equal(s.path, '/model/amazon.nova-lite-v1%3A0/converse');
  assert.deepEqual(s.body, converse, 'passed through; the model is in the path only');

  // native stream: the event-stream bytes are relayed unchanged
  res = await post('/bedrock/model/m/converse', { ...converse, model: 'amazon.nova-lite-v1:0', stream: true });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/vnd\.amazon\.eventstream/);
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.deepEqual(bytes, Buffer.concat(STREAM_EVENTS.map(([e, p]) => frame(e, p))));
  assert.equal(mock.seen.at(-1)!.path, '/model/amazon.nova-lite-v1%3A0/converse-stream');
  assert.equal('stream' in mock.seen.at(-1)!.body, false);

  // neither options.model nor a body model
  const before = mock.seen.length;
  res = await post('/bedrock/model/x/converse', converse);
  assert.equal(res.status, 400);
  const noModel = await res.json() as any;
  assert.match(noModel.error_msg, /no model: set options\.model or the request's model/);
  assert.equal(noModel.message, noModel.error_msg, 'R-ERR-1: Bedrock\'s error shape for a Converse client');
  assert.equal(mock.seen.length, before, 'not sent');

  // a wrong secret: the mock's verification fails and its 403 is relayed
  ok(await gw.admin('PUT', '/apisix/admin/routes/badkey', {
    uri: '/badkey/*',
    plugins: { 'ai-proxy': { provider: 'bedrock', provider_conf: { region: REGION }, auth: { aws: { ...KEYS, secret_access_key: 'wrong' } }, override: { endpoint: mock.url }, options: { model: 'm' } } },
  }));
  res = await post('/badkey/model/m/converse', converse);
  assert.equal(res.status, 403);
  assert.match((await res.json() as any).message, /signature we calculated does not match/);
  assert.equal(mock.seen.at(-1)!.signatureOk, false);
});
