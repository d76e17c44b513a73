// CR/LF in a configured header value is rejected at the Admin API (issue 16
// security checks): it would split the header sent upstream or to a log
// collector. The store is unchanged and the process keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';

let gw: GatewayProcess;
before(async () => { gw = await startGateway(); });
after(async () => { await gw?.stop(); });

const route = (auth: unknown, logger?: unknown) => ({
  uri: '/v1/chat/completions',
  plugins: {
    'ai-proxy': { provider: 'openai', auth, options: { model: 'gpt-4o-mini' }, override: { endpoint: 'http://127.0.0.1:1/v1/chat/completions' } },
    ...(logger ? { 'http-logger': logger } : {}),
  },
});

test('issue 16 R-ADM-6: CR or LF in ai-proxy auth.header or http-logger auth_header answers 400 naming the field', async () => {
  for (const evil of ['Bearer k\r\nX-Injected: 1', 'Bearer k\nX-Injected: 1', 'Bearer k\r']) {
    const r = await gw.admin('PUT', '/apisix/admin/routes/crlf', route({ header: { Authorization: evil } }));
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, /auth/);
  }
  const l = await gw.admin('PUT', '/apisix/admin/routes/crlf', route({ header: { Authorization: 'Bearer ok' } }, { uri: 'http://127.0.0.1:1/logs', auth_header: 'x\r\nX-Injected: 1' }));
  assert.equal(l.status, 400, l.text);
  assert.match(l.body.error_msg, /auth_header/);
  assert.equal((await gw.admin('GET', '/apisix/admin/routes/crlf')).status, 404, 'nothing was stored');
  const ok = await gw.admin('PUT', '/apisix/admin/routes/crlf', route({ header: { Authorization: 'Bearer fine' } }, { uri: 'http://127.0.0.1:1/logs', auth_header: 'Basic abc' }));
  assert.ok(ok.status === 200 || ok.status === 201, ok.text);
});
