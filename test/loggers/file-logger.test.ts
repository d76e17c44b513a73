// file-logger end to end through the real CLI, writing a real file (R-LOG-3, R-LOG-7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { startUpstream, until } from './collector.js';

function readLines(file: string): any[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('R-LOG-7 R-LOG-3: one JSON line per request appended to path (created with its directories), bodies included', async (t) => {
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await upstream.close(); });
  const file = path.join(gw.dir, 'logs/sub/file.log');
  const put = await gw.admin('PUT', '/apisix/admin/routes/1', {
    uri: '/echo',
    methods: ['POST', 'GET'],
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
    plugins: {
      'file-logger': { path: 'logs/sub/file.log', include_req_body: true, include_resp_body: true, max_req_body_bytes: 5 },
    },
  });
  assert.equal(put.status, 201, put.text);
  const r = await fetch(`${gw.proxyUrl}/echo`, { method: 'POST', body: 'abcdefghij', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 200);
  await r.text();
  await until(() => readLines(file).length === 1, 3000, 'the line was written');
  const [e] = readLines(file);
  assert.equal(e.route_id, '1');
  assert.equal(e.request.method, 'POST');
  assert.equal(e.request.body, 'abcde', 'truncated at max_req_body_bytes');
  assert.equal(e.response.body, 'hello world\n');
  assert.equal(e.response.status, 200);
  assert.ok(readFileSync(file, 'utf8').endsWith('}\n'));

  for (let i = 0; i < 3; i++) await (await fetch(`${gw.proxyUrl}/echo?i=${i}`)).text();
  await until(() => readLines(file).length === 4, 3000, 'four lines');
  assert.deepEqual(readLines(file).map((x) => x.request.uri), ['/echo', '/echo?i=0', '/echo?i=1', '/echo?i=2']);

  // rotation: the file is moved away; SIGUSR1 reopens `path` (SHOULD)
  renameSync(file, file + '.1');
  gw.proc.kill('SIGUSR1');
  await new Promise((r) => setTimeout(r, 200));
  await (await fetch(`${gw.proxyUrl}/echo?after=rotate`)).text();
  await until(() => readLines(file).length === 1, 3000, 'a new file after SIGUSR1');
  assert.equal(readLines(file)[0].request.uri, '/echo?after=rotate');
  assert.equal(readLines(file + '.1').length, 4);
  assert.doesNotMatch(gw.stderr(), /Debugger listening/);
});

test('R-LOG-7 R-LOG-2: match filters entries, log_format shapes them, include_resp_body_expr decides the body', async (t) => {
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await upstream.close(); });
  const file = path.join(gw.dir, 'matched.log');
  const put = await gw.admin('PUT', '/apisix/admin/routes/2', {
    uri: '/m/*',
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
    plugins: {
      'file-logger': {
        path: file,
        match: [['arg_log', '==', 'yes'], [['uri', '==', '/m/always'], ['request_method', '==', 'GET']]],
        log_format: { uri: '$uri', status: '$status', ua: '$http_user_agent' },
        include_resp_body: true,
        include_resp_body_expr: [['arg_body', '==', '1']],
      },
    },
  });
  assert.equal(put.status, 201, put.text);
  for (const q of ['/m/a?log=no', '/m/b?log=yes', '/m/always', '/m/c', '/m/d?log=yes&body=1']) {
    await (await fetch(gw.proxyUrl + q, { headers: { 'user-agent': 'tester' } })).text();
  }
  // a matching request after them marks the point by which any other line would be there
  await (await fetch(gw.proxyUrl + '/m/marker?log=yes', { headers: { 'user-agent': 'tester' } })).text();
  await until(() => readLines(file).some((l) => l.uri === '/m/marker'), 3000, 'the marker line');
  const lines = readLines(file).filter((l) => l.uri !== '/m/marker');
  assert.deepEqual(lines.map((l) => l.uri), ['/m/b', '/m/always', '/m/d']);
  assert.deepEqual(lines[0], { uri: '/m/b', status: 200, ua: 'tester', route_id: '2', service_id: '' });
  assert.equal(lines[2].response_body, 'hello world\n');
});

test('R-LOG-7: schema — path is required, match holds at most 20 expressions', async (t) => {
  const gw = await startGateway();
  t.after(() => gw.kill());
  const noPath = await gw.admin('PUT', '/apisix/admin/routes/3', { uri: '/x', plugins: { 'file-logger': {} }, upstream: { nodes: { '127.0.0.1:1': 1 } } });
  assert.equal(noPath.status, 400);
  assert.match(noPath.body.error_msg, /property "path" is required/);
  const tooMany = await gw.admin('PUT', '/apisix/admin/routes/3', {
    uri: '/x', upstream: { nodes: { '127.0.0.1:1': 1 } },
    plugins: { 'file-logger': { path: 'a.log', match: Array.from({ length: 21 }, () => ['uri', '==', '/x']) } },
  });
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body.error_msg, /match/);
});

test('R-LOG-2: log_format also knows APISIX log-util names ($request_headers, $response_body, $url, $upstream, ...)', async (t) => {
  const upstream = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await upstream.close(); });
  const file = path.join(gw.dir, 'vars.log');
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/v', {
    uri: '/v', methods: ['POST'],
    upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } },
    plugins: { 'file-logger': { path: file, log_format: {
      url: '$url', headers: '$request_headers', qs: '$request_querystring', req: '$request_body', resp: '$response_body',
      status: '$response_status', up: '$upstream', ver: '$version', lat: '$latency',
    } } },
  })).status, 201);
  await (await fetch(`${gw.proxyUrl}/v?k=1&apikey=s`, { method: 'POST', body: 'payload', headers: { 'x-h': '1', authorization: 'Bearer s' } })).text();
  await until(() => readLines(file).length === 1, 3000, 'the line');
  const [e] = readLines(file);
  assert.match(e.url, /^http:\/\/127\.0\.0\.1:\d+\/v\?k=1$/);
  assert.equal(e.headers['x-h'], '1');
  assert.equal(e.headers.authorization, undefined);
  assert.deepEqual(e.qs, { k: '1' });
  assert.equal(e.req, 'payload');
  assert.equal(e.resp, 'hello world\n');
  assert.equal(e.status, 200);
  assert.equal(e.up, `127.0.0.1:${upstream.port}`);
  assert.equal(typeof e.ver, 'string');
  assert.equal(typeof e.lat, 'number');
});
