// Issue 16 item 5: oversized JSON nesting is rejected without a stack
// overflow, on the proxy (an AI request: JSON.parse takes any depth, but
// re-serializing it for the upstream overflowed the stack and answered 500)
// and on the Admin API; the gateway keeps serving. (Admin body size limit:
// test/admin/resources.test.ts; nesting in the decoder: test/admin/cjson.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startMockLlm } from '../helpers/mock-llm.js';

test('oversized JSON nesting: an AI request is answered 400, an Admin write 400, and the gateway keeps serving', async (t) => {
  const mock = await startMockLlm();
  t.after(() => mock.close());
  const gw = await startGateway();
  t.after(() => gw.kill());
  const route = { uri: '/ai', plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer sk' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } } } };
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/ai', route)).status, 201);
  const post = async (body: string) => {
    const res = await fetch(gw.proxyUrl + '/ai', { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(20_000) });
    return { status: res.status, text: await res.text() };
  };
  for (const depth of [20_000, 500_000]) {
    const deep = '['.repeat(depth) + ']'.repeat(depth);
    for (const body of [
      `{"messages":[{"role":"user","content":"hi"}],"extra":${deep}}`,
      `{"messages":[{"role":"user","content":${deep}}]}`,
      `{"stream":true,"messages":[{"role":"user","content":"hi","name":${deep}}]}`,
    ]) {
      const r = await post(body);
      assert.equal(r.status, 400, `depth ${depth}: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /nested too deeply/);
    }
    const a = await gw.admin('PUT', '/apisix/admin/routes/deep', `{"uri":"/deep","vars":${deep}}`);
    assert.equal(a.status, 400, a.text.slice(0, 200));
    assert.match(a.body.error_msg, /too many nested data structures|greater than the maximum size/);
  }
  assert.equal((await post('{"messages":[{"role":"user","content":"hi"}]}')).status, 200, 'still serving');
  assert.equal(gw.proc.exitCode, null);
  assert.doesNotMatch(gw.stderr(), /RangeError|Maximum call stack/);
});
