// The access log through the real CLI (R-ALOG-1..7, R-SCN-7): the seed's
// "Include LLM Information in Access Log" scenario against the mock LLM,
// AI and non-AI lines, stdout, unknown-variable warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { chatCompletion, sseChat, startMockLlm } from '../helpers/mock-llm.js';
import { startUpstream, until } from '../loggers/collector.js';

/** the seed's access_log_format (APISIX ai-proxy-multi doc), `$request_line` included (D14) */
const SEED_FORMAT =
  '$remote_addr - $remote_user [$time_local] $http_host "$request_line" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri" "$apisix_upstream_response_time" "$request_type" "$llm_time_to_first_token" "$llm_model" "$request_llm_model"  "$llm_prompt_tokens" "$llm_completion_tokens"';

const TAIL = / "(\d*)" "(\w+)" "(\d+)" "([^"]*)" "([^"]*)"  "(\d+)" "(\d+)"$/;

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

test('R-SCN-7 R-ALOG-7 R-ALOG-1 R-ALOG-2: seed format — AI chat, AI stream and traditional lines', async (t) => {
  const mock = await startMockLlm();
  mock.reply((req) => (req.body?.stream ? { sse: sseChat(req.body.model, undefined, undefined, 10) } : { delayMs: 20, json: chatCompletion(req.body?.model ?? 'gpt-4') }));
  const upstream = await startUpstream();
  const gw = await startGateway({ config: { nginx_config: { http: { access_log_format: SEED_FORMAT, access_log: 'logs/nested/access.log' } } } });
  t.after(async () => { await gw.kill(); await mock.close(); await upstream.close(); });
  const file = path.join(gw.dir, 'logs/nested/access.log');

  const put = await gw.admin('PUT', '/apisix/admin/routes/ai-proxy-multi-route', {
    uri: '/anything',
    methods: ['POST'],
    plugins: {
      'ai-proxy-multi': {
        instances: [{ name: 'openai-instance', provider: 'openai', weight: 8, auth: { header: { Authorization: 'Bearer sk-x' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } }],
      },
    },
  });
  assert.equal(put.status, 201, put.text);
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/plain', { uri: '/plain', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } } })).status, 201);

  const chat = async (body: unknown) => {
    const r = await fetch(`${gw.proxyUrl}/anything`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'curl/8.6.0' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200);
    await r.text();
  };
  const messages = [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }];
  await chat({ model: 'gpt-4', messages });
  await until(() => lines(file).length >= 1, 5000, 'the first line');
  await chat({ messages });
  await until(() => lines(file).length >= 2, 5000, 'the second line');
  await chat({ messages, stream: true });
  await until(() => lines(file).length >= 3, 5000, 'the third line');
  await (await fetch(`${gw.proxyUrl}/plain?x=1`, { headers: { 'user-agent': 'curl/8.6.0' } })).text();
  await (await fetch(`${gw.proxyUrl}/nowhere`)).text();
  await until(() => lines(file).length >= 5, 5000, 'five lines');
  // Admin API requests are not logged there
  await gw.admin('GET', '/apisix/admin/routes');
  // a proxy request after it marks the point by which its line would be there
  await (await fetch(`${gw.proxyUrl}/after-admin-marker`)).text();
  await until(() => lines(file).some((l) => l.includes('/after-admin-marker')), 5000, 'the marker line');
  const all = lines(file).filter((l) => !l.includes('/after-admin-marker'));
  assert.equal(all.length, 5, all.join('\n'));

  const [withModel, noModel, stream, plain, notFound] = all as [string, string, string, string, string];
  let m = TAIL.exec(withModel)!;
  assert.ok(m, withModel);
  assert.match(withModel, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] 127\.0\.0\.1:\d+ "POST \/anything HTTP\/1\.1" 200 \d+ \d+\.\d{3} "-" "curl\/8\.6\.0" /);
  assert.equal(m[2], 'ai_chat');
  const ttft = Number(m[3]);
  assert.ok(ttft > 0, `ttft ${ttft}`);
  assert.ok(Number(m[1]) >= ttft, `apisix_upstream_response_time ${m[1]} ≥ ttft ${ttft}`);
  assert.deepEqual(m.slice(4), ['gpt-4', 'gpt-4', '23', '8']);
  assert.ok(withModel.endsWith(`"ai_chat" "${ttft}" "gpt-4" "gpt-4"  "23" "8"`));

  m = TAIL.exec(noModel)!;
  assert.deepEqual([m[2], m[4], m[5], m[6], m[7]], ['ai_chat', 'gpt-4', '', '23', '8']);
  m = TAIL.exec(stream)!;
  assert.equal(m[2], 'ai_stream', stream);

  assert.ok(plain.endsWith('"traditional_http" "0" "" ""  "0" "0"'), plain);
  assert.match(plain, /"GET \/plain\?x=1 HTTP\/1\.1" 200 12 /);
  assert.match(plain, new RegExp(` 127\\.0\\.0\\.1:${upstream.port} 200 \\d+\\.\\d{3} "http://`));
  assert.match(notFound, /"GET \/nowhere HTTP\/1\.1" 404 \d+ .* - - - "-:\/\/--" "-" "traditional_http" "0" "" ""  "0" "0"$/);

  // R-ALOG-2: the client goes away before the response: the line is still written, status 499
  mock.reply({ delayMs: 3000, json: chatCompletion('gpt-4') });
  const ac = new AbortController();
  const gone = fetch(`${gw.proxyUrl}/anything`, { method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4', messages }) }).catch(() => undefined);
  const n = mock.requests.length;
  await until(() => mock.requests.length > n, 3000, 'the upstream request');
  ac.abort();
  await gone;
  await until(() => lines(file).length >= 7, 3000, 'the line of the aborted request');
  assert.match(lines(file)[6]!, /"POST \/anything HTTP\/1\.1" 499 0 .* "ai_chat" "\d+" "gpt-4" "gpt-4"  "0" "0"$/);
});

test('R-ALOG-1 R-ALOG-5 R-ALOG-6: stdout target, enable_access_log false; unknown variables warned and rendered "-"', async (t) => {
  const upstream = await startUpstream();
  const gw = await startGateway({ config: { nginx_config: { http: { access_log: 'stdout', access_log_format: '$request_line|$nope|${status}|$http_x_q' } } } });
  t.after(async () => { await gw.kill(); await upstream.close(); });
  assert.match(gw.stderr(), /unknown variable \$nope/);
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/p', { uri: '/p', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } } })).status, 201);
  await (await fetch(`${gw.proxyUrl}/p`, { headers: { 'x-q': 'a"b' } })).text();
  await until(() => gw.stdout().includes('GET /p HTTP/1.1|'), 5000, 'the stdout line');
  assert.match(gw.stdout(), /^GET \/p HTTP\/1\.1\|-\|200\|a\\x22b$/m);

  const gw2 = await startGateway({ config: { nginx_config: { http: { enable_access_log: false } } } });
  t.after(() => gw2.kill());
  await (await fetch(`${gw2.proxyUrl}/x`)).text();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(existsSync(path.join(gw2.dir, 'logs/access.log')), false, 'enable_access_log: false writes nothing');
});
