// R-RTE-20: route `vars` on `post_arg.<path>` of application/json bodies:
// routing by the requested model, as APISIX 3.14+ does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { compilePostArgPath, usesPostArgs } from '../../src/core/post-arg.js';
import { compileExpression } from '../../src/core/expr.js';
import { Router, type RouteMatchSpec, type MatchRequest } from '../../src/runtime/router.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';

const BODY = {
  model: 'deepseek',
  n: 2,
  messages: [
    { role: 'system', content: [{ type: 'text', text: 'a' }, { type: 'image_url', text: 'b' }] },
    { role: 'user', content: 'plain string' },
  ],
};

test('R-RTE-20: paths with keys, [n] indexes and [*] wildcards', () => {
  assert.equal(compilePostArgPath('model')(BODY), 'deepseek');
  assert.equal(compilePostArgPath('n')(BODY), 2);
  assert.equal(compilePostArgPath('messages[1].role')(BODY), 'user');
  assert.equal(compilePostArgPath('messages[0].content[1].type')(BODY), 'image_url');
  assert.deepEqual(compilePostArgPath('messages[*].role')(BODY), ['system', 'user']);
  assert.deepEqual(compilePostArgPath('messages[*].content[*].type')(BODY), ['text', 'image_url']);
  assert.equal(compilePostArgPath('missing.deeper')(BODY), undefined);
  assert.equal(compilePostArgPath('messages[7].role')(BODY), undefined);
  assert.equal(compilePostArgPath('model.length')(BODY), undefined, 'no properties of strings');
  assert.equal(compilePostArgPath('constructor')({}), undefined, 'own properties only');
  assert.deepEqual(compilePostArgPath('missing[*]')(BODY), []);
  for (const bad of ['', 'a..b', 'a[', 'a[x]', 'a.']) assert.throws(() => compilePostArgPath(bad), /invalid post_arg path/, bad);
});

test('R-RTE-20: ==, has and in over post_arg values; an invalid path is an expression error', () => {
  const ctx = (postArgs: unknown) => ({ getVar: () => undefined, postArgs });
  assert.equal(compileExpression([['post_arg.model', '==', 'deepseek']])(ctx(BODY)), true);
  assert.equal(compileExpression([['post_arg.model', '==', 'deepseek']])(ctx(undefined)), false, 'absent without a body');
  assert.equal(compileExpression([['post_arg.messages[*].content[*].type', 'has', 'image_url']])(ctx(BODY)), true);
  assert.equal(compileExpression([['post_arg.messages[*].content[*].type', 'has', 'audio']])(ctx(BODY)), false);
  assert.equal(compileExpression([['post_arg.messages[*].role', 'in', ['tool', 'user']]])(ctx(BODY)), true);
  assert.equal(compileExpression([['post_arg.n', '>', 1]])(ctx(BODY)), true);
  assert.throws(() => compileExpression([['post_arg.a[x]', '==', 1]]), /invalid post_arg path/);
  assert.equal(usesPostArgs([['post_arg.model', '==', 'x']]), true);
  assert.equal(usesPostArgs(['OR', ['arg_a', '==', 'x'], ['post_arg.model', '==', 'x']]), true);
  assert.equal(usesPostArgs([['arg_a', '==', 'x'], ['http_post_arg.x', '==', 'x']]), false);
});

test('R-RTE-20: the router asks for the body only when it reaches a post_arg route, then decides in order', () => {
  type R = RouteMatchSpec & { id: string };
  const vars = (e: unknown) => ({ vars: compileExpression(e), varsNeedBody: usesPostArgs(e) });
  const routes: R[] = [
    { key: '/apisix/routes/a', id: 'header', priority: 10, uris: ['/v1/chat/completions'], ...vars([['http_x_tier', '==', 'gold']]) },
    { key: '/apisix/routes/b', id: 'cheap', priority: 5, uris: ['/v1/chat/completions'], ...vars([['post_arg.model', '==', 'cheap']]) },
    { key: '/apisix/routes/c', id: 'any', priority: 0, uris: ['/v1/chat/completions'] },
  ];
  const r = new Router(routes);
  const req = (headers: Record<string, string>, postArgs?: unknown): MatchRequest & { postArgs?: unknown } => ({
    uri: '/v1/chat/completions', host: 'h', method: 'POST', clientIp: '127.0.0.1', getVar: (n) => headers[n], postArgs,
  });
  const gold = req({ http_x_tier: 'gold' });
  assert.equal(r.match(gold)?.id, 'header');
  assert.equal(gold.postArgsWanted, undefined, 'a route before the post_arg one matched: no body needed');
  const plain = req({});
  assert.equal(r.match(plain), undefined);
  assert.equal(plain.postArgsWanted, true, 'stopped at the post_arg route: the lower one must not win yet');
  const cheap = req({}, { model: 'cheap' });
  cheap.postArgsRead = true;
  assert.equal(r.match(cheap)?.id, 'cheap');
  const other = req({}, { model: 'smart' });
  other.postArgsRead = true;
  assert.equal(r.match(other)?.id, 'any');
});

let gw: GatewayProcess;
let mock: MockLlm;

function multi(model: string) {
  return {
    'ai-proxy-multi': {
      instances: [{
        name: model,
        provider: 'openai-compatible',
        weight: 1,
        auth: { header: { Authorization: 'Bearer sk-test' } },
        options: { model },
        override: { endpoint: `${mock.url}/v1/chat/completions` },
      }],
    },
  };
}

test.before(async () => {
  mock = await startMockLlm();
  gw = await startGateway({ config: { apisix: { max_post_args_readable_size: 1 } } });
  const routes = [
    ['cheap', { uri: '/v1/chat/completions', vars: [['post_arg.model', '==', 'cheap']], plugins: multi('gpt-4o-mini') }],
    ['smart', { uri: '/v1/chat/completions', vars: [['post_arg.model', '==', 'smart']], plugins: multi('gpt-4o') }],
    ['vision', { uri: '/v1/chat/completions', priority: 1, vars: [['post_arg.messages[*].content[*].type', 'has', 'image_url']], plugins: multi('gpt-4o-vision') }],
  ] as const;
  for (const [id, body] of routes) {
    const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, body);
    assert.equal(r.status, 201, r.text);
  }
});
test.after(async () => {
  await gw?.stop();
  await mock?.close();
});

async function chat(body: string, contentType = 'application/json'): Promise<{ status: number; json: any }> {
  const res = await fetch(`${gw.proxyUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await res.text();
  let json: any = text;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json };
}

const msgs = [{ role: 'user', content: 'What is 1+1?' }];

test('R-RTE-20: two routes on /v1/chat/completions, chosen by the requested model', async () => {
  for (let i = 0; i < 3; i++) {
    const cheap = await chat(JSON.stringify({ model: 'cheap', messages: msgs }));
    assert.equal(cheap.status, 200, JSON.stringify(cheap.json));
    assert.equal(cheap.json.model, 'gpt-4o-mini');
    const smart = await chat(JSON.stringify({ model: 'smart', messages: msgs }));
    assert.equal(smart.status, 200, JSON.stringify(smart.json));
    assert.equal(smart.json.model, 'gpt-4o');
  }
  // the AI plugin used the same body: the upstream got the messages
  const last = mock.requests.at(-1)!;
  assert.deepEqual(last.body.messages, msgs);
  assert.equal(last.body.model, 'gpt-4o');
});

test('R-RTE-20: a wildcard path routes multimodal requests; priority orders the candidates', async () => {
  const r = await chat(JSON.stringify({ model: 'cheap', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.model, 'gpt-4o-vision');
});

test('R-RTE-20: no model match, a non-JSON body, bad JSON or a body over the cap: no route, 404, never a crash', async () => {
  assert.equal((await chat(JSON.stringify({ model: 'other', messages: msgs }))).status, 404);
  assert.equal((await chat('model=cheap', 'application/x-www-form-urlencoded')).status, 404);
  assert.equal((await chat('{"model": "cheap",')).status, 404);
  assert.equal((await chat('')).status, 404);
  // max_post_args_readable_size: 1 (MiB): a larger body is not read for matching
  const big = JSON.stringify({ model: 'cheap', messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024 + 10) }] });
  assert.equal((await chat(big)).status, 404);
  // the same with chunked transfer (no content-length)
  const status = await new Promise<number>((resolve, reject) => {
    const u = new URL(`${gw.proxyUrl}/v1/chat/completions`);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.write(big.slice(0, 1000));
    req.end(big.slice(1000));
  });
  assert.equal(status, 404);
  // still serving
  assert.equal((await chat(JSON.stringify({ model: 'cheap', messages: msgs }))).status, 200);
});

test('R-RTE-20: an invalid post_arg path is refused by the Admin API', async () => {
  const r = await gw.admin('PUT', '/apisix/admin/routes/bad', { uri: '/x', vars: [['post_arg.a[x]', '==', 1]], upstream: { nodes: { '127.0.0.1:1': 1 } } });
  assert.equal(r.status, 400);
  assert.match(r.body.error_msg, /failed to validate the 'vars' expression: invalid post_arg path "a\[x\]"/);
});
