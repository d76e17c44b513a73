// GCP service-account tokens (R-PRV-12) against a local token endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify, decodeProtectedHeader } from 'jose';
import { GcpTokenCache, tokenTtl, DEFAULT_SCOPE } from '../../src/llm/providers/gcp-token.js';
import { GatewayTransport } from '../../src/transport/index.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

interface TokenServer {
  url: string;
  requests: Array<{ contentType: string; form: URLSearchParams; claims?: any; header?: any }>;
  reply: (n: number) => { status: number; body: unknown };
  close(): Promise<void>;
}

async function tokenServer(): Promise<TokenServer> {
  const pub = await importSPKI(publicKey, 'RS256');
  const st: Omit<TokenServer, 'url' | 'close'> = {
    requests: [],
    reply: (n) => ({ status: 200, body: { access_token: `tok-${n}`, expires_in: 3600, token_type: 'Bearer' } }),
  };
  let url = '';
  const server = http.createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8').on('data', (d) => (data += d)).on('end', async () => {
      const form = new URLSearchParams(data);
      const rec: TokenServer['requests'][number] = { contentType: String(req.headers['content-type']), form };
      try {
        const v = await jwtVerify(form.get('assertion') ?? '', pub, { audience: url + '/token' });
        rec.claims = v.payload;
        rec.header = decodeProtectedHeader(form.get('assertion')!);
      } catch { /* left undefined: asserted by the tests */ }
      st.requests.push(rec);
      const r = st.reply(st.requests.length);
      res.statusCode = r.status;
      res.setHeader('content-type', 'application/json');
      res.end(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(st, {
    url,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  }) as TokenServer;
}

const sa = (url: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'service_account', client_email: 'svc@proj.iam.gserviceaccount.com', private_key: privateKey, private_key_id: 'kid-1', token_uri: url + '/token', ...extra });

test('R-PRV-12 cache lifetime: expires_in minus expire_early_secs, capped at max_ttl (65/60/8 → 5 s)', () => {
  assert.equal(tokenTtl(65, { expire_early_secs: 60, max_ttl: 8 }), 5);
  assert.equal(tokenTtl(65, { max_ttl: 8 }), 5, 'expire_early_secs defaults to 60');
  assert.equal(tokenTtl(undefined, {}), 3540, 'expires_in defaults to 3600');
  assert.equal(tokenTtl(3600, { expire_early_secs: 0 }), 3600);
  assert.equal(tokenTtl(30, { expire_early_secs: 60 }), 30, 'not reduced when expires_in <= expire_early_secs');
  assert.equal(tokenTtl(3600, { expire_early_secs: 60, max_ttl: 100 }), 100);
});

test('R-PRV-12 token exchange: RS256 JWT with iss/aud/scope/iat/exp, form POST, token cached per key', async (t) => {
  // through the gateway's transport, as `switchyard start` wires it
  const transport = new GatewayTransport();
  const tokens = new GcpTokenCache(transport);
  const srv = await tokenServer();
  t.after(async () => { tokens.close(); await transport.close(); await srv.close(); });
  const conf = { service_account_json: sa(srv.url), expire_early_secs: 60 };
  const before = Math.floor(Date.now() / 1000);
  const tok = await tokens.token('inst-a|h', conf);
  assert.equal(tok, 'tok-1');
  assert.equal(srv.requests.length, 1);
  const r = srv.requests[0]!;
  assert.equal(r.contentType, 'application/x-www-form-urlencoded');
  assert.equal(r.form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  assert.ok(r.claims, 'the assertion verifies with the public key (RS256) and aud = token_uri');
  assert.equal(r.header.alg, 'RS256');
  assert.equal(r.header.kid, 'kid-1');
  assert.equal(r.claims.iss, 'svc@proj.iam.gserviceaccount.com');
  assert.equal(r.claims.aud, srv.url + '/token');
  assert.equal(r.claims.scope, DEFAULT_SCOPE);
  assert.ok(r.claims.iat >= before && r.claims.iat <= before + 2);
  assert.equal(r.claims.exp, r.claims.iat + 3600);
  // cached
  assert.equal(await tokens.token('inst-a|h', conf), 'tok-1');
  assert.equal(srv.requests.length, 1);
  // another key (instance / configuration) has its own token
  assert.equal(await tokens.token('inst-b|h', conf), 'tok-2');
  // concurrent callers share one exchange
  const [x, y] = await Promise.all([tokens.token('inst-c|h', conf), tokens.token('inst-c|h', conf)]);
  assert.equal(x, y);
  assert.equal(srv.requests.length, 3);
  // custom scope
  await tokens.token('inst-d|h', { service_account_json: sa(srv.url, { scope: 'https://example/s' }) });
  assert.equal(srv.requests[3]!.claims.scope, 'https://example/s');
  assert.equal(transport.openCount, 1, 'the token endpoint is called through the gateway transport');
  tokens.close();
  assert.equal(transport.openCount, 0, 'close() gives the transport handle back');
});

test('R-PRV-12 issue 11: each gateway owns its token cache; two caches never share a token', async (t) => {
  const srv = await tokenServer();
  t.after(() => srv.close());
  const conf = { service_account_json: sa(srv.url) };
  const a = new GcpTokenCache();
  const b = new GcpTokenCache();
  assert.equal(await a.token('inst|h', conf), 'tok-1');
  assert.equal(await a.token('inst|h', conf), 'tok-1', 'cached in a');
  assert.equal(await b.token('inst|h', conf), 'tok-2', 'b exchanges its own');
  a.close();
  assert.equal(await a.token('inst|h', conf), 'tok-3', 'close() forgets the cached tokens');
  assert.equal(srv.requests.length, 3);
});

test('R-PRV-12 cache expiry: 65/60/8 keeps the token, 61/60 expires after 1 s, max_ttl 1 caps a long token', async (t) => {
  const tokens = new GcpTokenCache();
  const srv = await tokenServer();
  t.after(() => srv.close());
  let expiresIn = 65;
  srv.reply = (n) => ({ status: 200, body: { access_token: `tok-${n}`, expires_in: expiresIn } });
  const a = { service_account_json: sa(srv.url), max_ttl: 8 };
  assert.equal(await tokens.token('a', a), 'tok-1');
  expiresIn = 61;
  const b = { service_account_json: sa(srv.url), expire_early_secs: 60 };
  assert.equal(await tokens.token('b', b), 'tok-2');
  expiresIn = 3600;
  const c = { service_account_json: sa(srv.url), max_ttl: 1 };
  assert.equal(await tokens.token('c', c), 'tok-3');
  assert.equal(await tokens.token('b', b), 'tok-2');
  assert.equal(await tokens.token('c', c), 'tok-3');
  await new Promise((r) => setTimeout(r, 1150));
  assert.equal(await tokens.token('a', a), 'tok-1', '5 s lifetime: still cached after 1.15 s');
  assert.equal(await tokens.token('b', b), 'tok-4', '1 s lifetime: refreshed');
  assert.equal(await tokens.token('c', c), 'tok-5', 'max_ttl 1: refreshed');
});

test('R-PRV-12 service account from GCP_SERVICE_ACCOUNT; failures are Errors with the reason', async (t) => {
  const tokens = new GcpTokenCache();
  const srv = await tokenServer();
  const saved = process.env.GCP_SERVICE_ACCOUNT;
  t.after(async () => {
    if (saved === undefined) delete process.env.GCP_SERVICE_ACCOUNT;
    else process.env.GCP_SERVICE_ACCOUNT = saved;
    await srv.close();
  });
  delete process.env.GCP_SERVICE_ACCOUNT;
  await assert.rejects(tokens.token('e1', {}), { message: 'no GCP service account found in config or GCP_SERVICE_ACCOUNT env var' });
  await assert.rejects(tokens.token('e2', { service_account_json: '{not json' }), (err: Error) => err.message.startsWith('invalid gcp service account json: '));
  await assert.rejects(tokens.token('e3', { service_account_json: '{"private_key":"x"}' }), { message: 'invalid gcp service account json: missing client_email' });
  await assert.rejects(
    tokens.token('e4', { service_account_json: JSON.stringify({ client_email: 'a@b', private_key: 'not a key', token_uri: srv.url + '/token' }) }),
    (err: Error) => err.message.startsWith('invalid gcp service account private_key'),
  );
  process.env.GCP_SERVICE_ACCOUNT = sa(srv.url);
  assert.equal(await tokens.token('env', {}), 'tok-1');
  srv.reply = () => ({ status: 401, body: { error: 'invalid_grant' } });
  await assert.rejects(tokens.token('e5', {}), (err: Error) => /answered 401/.test(err.message) && err.message.includes('invalid_grant'));
  srv.reply = () => ({ status: 200, body: { token_type: 'Bearer' } });
  await assert.rejects(tokens.token('e6', {}), (err: Error) => err.message.includes('no access_token'));
  // failures are not cached
  srv.reply = (n) => ({ status: 200, body: { access_token: `tok-${n}`, expires_in: 3600 } });
  assert.match(await tokens.token('e6', {}), /^tok-/);
  await assert.rejects(
    tokens.token('e7', { service_account_json: sa('http://127.0.0.1:1') }),
    (err: Error) => err.message.startsWith('token request to http://127.0.0.1:1/token failed'),
  );
});
