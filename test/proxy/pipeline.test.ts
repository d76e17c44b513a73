import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import https from 'node:https';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { plugins } from '../../src/plugins/registry.js';
import type { PluginDef, RequestContext } from '../../src/core/types.js';
import { jsonError } from '../../src/core/errors.js';
import { startHarness, startUpstream, req } from './harness.js';
import { until } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

// test-only plugins, registered in the registry map so the compiler finds them
const trace: string[] = [];
const compiles: string[] = [];
const destroys: string[] = [];
function testPlugin(name: string, priority: number, extra: Partial<PluginDef> = {}): PluginDef {
  const def: PluginDef = {
    name,
    priority,
    schema: { type: 'object', properties: { tag: { type: 'string', default: name } } },
    compile(conf) {
      compiles.push(`${name}:${conf.tag}`);
      return { ...conf };
    },
    destroy(c) {
      destroys.push(`${name}:${c.tag}`);
    },
    rewrite(ctx, c) {
      trace.push(`rewrite:${c.tag}`);
      if (ctx.headers['x-deny'] === c.tag) return jsonError(403, { message: 'denied by ' + c.tag });
      if (ctx.headers['x-throw'] === c.tag) throw new Error('boom');
    },
    access(ctx, c) {
      trace.push(`access:${c.tag}`);
      ctx.extraResponseHeaders['x-seen-' + name] = c.tag;
    },
    log(_ctx, c) {
      trace.push(`log:${c.tag}`);
    },
    ...extra,
  };
  (plugins as Map<string, PluginDef>).set(name, def);
  return def;
}
testPlugin('t-high', 3000);
testPlugin('t-mid', 1000);
testPlugin('t-low', 100);

const up = await startUpstream();
const h = await startHarness();
after(async () => {
  await h.close();
  await up.close();
});
const put = (k: string, v: any) => h.store.putSync(k, v);
const del = (k: string) => h.store.deleteSync([k]);

test('R-UPS-1 R-UPS-3 R-UPS-5 R-GEN-4 plain upstream: method, path, query, body, forwarded headers, relayed response', async () => {
  put('/apisix/routes/u1', { uri: '/echo/*', upstream: { nodes: { [up.hostPort]: 1 } } });
  const r = await req(h.url + '/echo/a?x=1&y=%20', {
    method: 'POST',
    body: 'hello',
    headers: { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', forwarded: 'for=9.9.9.9', 'x-custom': 'v' },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-upstream'), 'yes');
  assert.match(r.headers.get('server')!, /^APISIX\/3\.16\.0 \(switchyard\//);
  assert.equal(r.json.method, 'POST');
  assert.equal(r.json.url, '/echo/a?x=1&y=%20');
  assert.equal(r.json.body, 'hello');
  const hd = r.json.headers;
  assert.equal(hd['x-custom'], 'v');
  assert.equal(hd['x-real-ip'], '127.0.0.1');
  assert.equal(hd['x-forwarded-for'], '1.2.3.4, 127.0.0.1');
  assert.equal(hd['x-forwarded-proto'], 'http');
  assert.equal(hd['x-forwarded-host'], '127.0.0.1');
  assert.equal(hd['forwarded'], undefined);
  assert.equal(hd.host, new URL(h.url).host, 'R-UPS-2 pass keeps the client Host');
  const ctx = h.logged.at(-1)!;
  assert.equal(ctx.getVar('upstream_status'), '200');
  assert.equal(ctx.getVar('upstream_addr'), up.hostPort);
  assert.equal(ctx.getVar('route_id'), 'u1');
  assert.equal(ctx.getVar('upstream_uri'), '/echo/a?x=1&y=%20');
});

test('R-UPS-2 pass_host node and rewrite', async () => {
  put('/apisix/routes/u2', { uri: '/node', upstream: { pass_host: 'node', nodes: { [up.hostPort]: 1 } } });
  put('/apisix/routes/u3', { uri: '/rewrite', upstream: { pass_host: 'rewrite', upstream_host: 'up.example', nodes: { [up.hostPort]: 1 } } });
  assert.equal((await req(h.url + '/node')).json.headers.host, up.hostPort);
  assert.equal((await req(h.url + '/rewrite')).json.headers.host, 'up.example');
});

test('R-RTE-7 no route: 404 JSON error body', async () => {
  const r = await req(h.url + '/nothing-here');
  assert.equal(r.status, 404);
  assert.equal(r.text, '{"error_msg":"404 Route Not Found"}\n');
  assert.equal(r.headers.get('content-type'), 'application/json');
});

test('R-PIPE-10 a route without AI plugin and without upstream answers 503 page', async () => {
  put('/apisix/routes/p10', { uri: '/no-upstream', plugins: { 't-low': {} } });
  const r = await req(h.url + '/no-upstream');
  assert.equal(r.status, 503);
  assert.match(r.text, /503 Service Temporarily Unavailable/);
});

test('R-RTE-9 a route whose service is gone answers 404 default page', async () => {
  put('/apisix/routes/s9', { uri: '/svc-gone', service_id: 'missing' });
  const r = await req(h.url + '/svc-gone');
  assert.equal(r.status, 404);
  assert.match(r.text, /404 Not Found/);
});

test('R-RTE-6 status 0 routes are ignored', async () => {
  put('/apisix/routes/st0', { uri: '/disabled', status: 0, upstream: { nodes: { [up.hostPort]: 1 } } });
  assert.equal((await req(h.url + '/disabled')).status, 404);
});

test('R-PIPE-5 route + service merge: service upstream and hosts, route plugin replaces service plugin', async () => {
  put('/apisix/services/svc1', { hosts: ['svc.test'], upstream: { nodes: { [up.hostPort]: 1 } }, plugins: { 't-mid': { tag: 'svc' }, 't-low': { tag: 'svc-low' } } });
  put('/apisix/routes/m1', { uri: '/merged', service_id: 'svc1', plugins: { 't-mid': { tag: 'route' } } });
  trace.length = 0;
  const r = await req(h.url + '/merged', { headers: { host: 'svc.test' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-seen-t-mid'), 'route');
  assert.equal(r.headers.get('x-seen-t-low'), 'svc-low');
  assert.equal((await req(h.url + '/merged', { headers: { host: 'other.test' } })).status, 404, 'service hosts apply');
  const ctx = h.logged.at(-2)!;
  assert.equal(ctx.getVar('service_id'), 'svc1');
});

test('R-PIPE-1 R-PIPE-2 R-PIPE-7 phase order: globals first, priority order, log after response', async () => {
  put('/apisix/global_rules/g1', { plugins: { 't-low': { tag: 'g-low' } } });
  put('/apisix/routes/o1', { uri: '/order', plugins: { 't-high': { tag: 'r-high' }, 't-mid': { tag: 'r-mid' } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  trace.length = 0;
  const r = await req(h.url + '/order');
  assert.equal(r.status, 200);
  await until(() => trace.includes('log:r-mid'));
  assert.deepEqual(trace, [
    'rewrite:g-low', 'access:g-low',
    'rewrite:r-high', 'rewrite:r-mid',
    'access:r-high', 'access:r-mid',
    'log:g-low', 'log:r-high', 'log:r-mid',
  ]);
  del('/apisix/global_rules/g1');
});

test('R-PIPE-3 R-ADM-60 _meta.priority reorders, _meta.disable skips (also a service plugin), R-PIPE-8', async () => {
  put('/apisix/services/svc2', { plugins: { 't-low': { tag: 'svc-low' } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  put('/apisix/routes/o2', {
    uri: '/meta',
    service_id: 'svc2',
    plugins: {
      't-high': { tag: 'h', _meta: { priority: 1 } },
      't-mid': { tag: 'm' },
      't-low': { _meta: { disable: true } },
    },
  });
  trace.length = 0;
  await req(h.url + '/meta');
  await until(() => trace.filter((t) => t.startsWith('log:')).length === 2);
  assert.deepEqual(trace.filter((t) => t.startsWith('rewrite')), ['rewrite:m', 'rewrite:h']);
  assert.ok(!trace.includes('rewrite:svc-low'));
});

test('R-ADM-60 _meta.filter and _meta.error_response', async () => {
  put('/apisix/routes/f1', {
    uri: '/filter',
    plugins: {
      't-mid': { tag: 'm', _meta: { filter: [['arg_on', '==', '1']], error_response: { message: 'custom' } } },
      't-low': { tag: 'l', _meta: { error_response: 'plain text' } },
    },
    upstream: { nodes: { [up.hostPort]: 1 } },
  });
  let r = await req(h.url + '/filter');
  assert.equal(r.headers.get('x-seen-t-mid'), null, 'filtered out');
  r = await req(h.url + '/filter?on=1');
  assert.equal(r.headers.get('x-seen-t-mid'), 'm');
  r = await req(h.url + '/filter?on=1', { headers: { 'x-deny': 'm' } });
  assert.equal(r.status, 403);
  assert.equal(r.text, '{"message":"custom"}\n');
  r = await req(h.url + '/filter', { headers: { 'x-deny': 'l' } });
  assert.equal(r.status, 403);
  assert.equal(r.text, 'plain text');
});

test('R-PIPE-4 a plugin reply ends the request but log phases still run', async () => {
  put('/apisix/routes/r4', { uri: '/deny', plugins: { 't-high': { tag: 'h' }, 't-mid': { tag: 'm' } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  trace.length = 0;
  const n = up.requests.length;
  const r = await req(h.url + '/deny', { headers: { 'x-deny': 'h' } });
  assert.equal(r.status, 403);
  assert.deepEqual(r.json, { message: 'denied by h' });
  await until(() => trace.includes('log:m'));
  assert.deepEqual(trace, ['rewrite:h', 'log:h', 'log:m']);
  assert.equal(up.requests.length, n, 'not proxied');
});

test('R-PIPE-11 a log phase that throws or rejects is logged by plugin name; the later log phases and the access log still run', async () => {
  // each plugin fails in its own way: at once, after a tick, or finishes late but fine
  testPlugin('t-log-throw', 2900, { log(_ctx, c) { trace.push(`log:${c.tag}`); throw new Error('log throw ' + c.tag); } });
  testPlugin('t-log-reject', 2800, {
    log(_ctx, c) {
      trace.push(`log:${c.tag}`);
      return new Promise<void>((_, reject) => setImmediate(() => reject(new Error('log reject ' + c.tag))));
    },
  });
  testPlugin('t-log-late', 2700, {
    log(_ctx, c) {
      return new Promise<void>((resolve) => setImmediate(() => { trace.push(`log:${c.tag}`); resolve(); }));
    },
  });
  put('/apisix/global_rules/glog', { plugins: { 't-log-reject': { tag: 'g-reject' } } });
  put('/apisix/routes/logfail', {
    uri: '/logfail',
    plugins: { 't-log-throw': { tag: 'r-throw' }, 't-log-late': { tag: 'r-late' }, 't-mid': { tag: 'r-mid' } },
    upstream: { nodes: { [up.hostPort]: 1 } },
  });
  trace.length = 0;
  const n = h.logged.length;
  const r = await req(h.url + '/logfail');
  assert.equal(r.status, 200, 'log phases run after the response');
  await until(() => h.logged.length > n);
  assert.equal(h.logged.at(-1)!.getVar('uri'), '/logfail', 'the access log line is written after the failing phases');
  assert.deepEqual(trace.filter((t) => t.startsWith('log:')), ['log:g-reject', 'log:r-throw', 'log:r-late', 'log:r-mid']);
  const errors = h.log.lines.filter((l) => l.startsWith('[error]'));
  assert.ok(errors.some((l) => l.includes('plugin t-log-reject log phase failed') && l.includes('log reject g-reject')), errors.join('\n'));
  assert.ok(errors.some((l) => l.includes('plugin t-log-throw log phase failed') && l.includes('log throw r-throw')), errors.join('\n'));
  assert.ok(!errors.some((l) => l.includes('t-log-late') || l.includes('t-mid')), errors.join('\n'));
  del('/apisix/global_rules/glog');
  assert.equal((await req(h.url + '/logfail')).status, 200, 'the process keeps serving');
});

test('a plugin that throws answers 500 and logs an error line; the process keeps serving', async () => {
  put('/apisix/routes/t1', { uri: '/throw', plugins: { 't-mid': { tag: 'm' } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  const r = await req(h.url + '/throw', { headers: { 'x-throw': 'm' } });
  assert.equal(r.status, 500);
  assert.match(r.text, /500 Internal Server Error/);
  assert.ok(h.log.lines.some((l) => l.startsWith('[error]') && l.includes('boom')));
  assert.equal((await req(h.url + '/throw')).status, 200);
});

test('a plugin configuration that fails validation makes its route answer 503, not crash', async () => {
  put('/apisix/routes/bad', { uri: '/bad-conf', plugins: { 't-mid': { tag: 5 } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  put('/apisix/routes/unknown', { uri: '/unknown-plugin', plugins: { 'no-such-plugin': {} }, upstream: { nodes: { [up.hostPort]: 1 } } });
  assert.equal((await req(h.url + '/bad-conf')).status, 503);
  assert.equal((await req(h.url + '/unknown-plugin')).status, 503);
  assert.ok(h.log.lines.some((l) => l.includes('failed to check the configuration of plugin t-mid')));
});

test('compiled plugin objects survive unrelated changes and are destroyed when unused', async () => {
  put('/apisix/routes/c1', { uri: '/cache', plugins: { 't-low': { tag: 'cached' } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  await req(h.url + '/cache');
  const before = compiles.filter((c) => c === 't-low:cached').length;
  put('/apisix/routes/c2', { uri: '/cache2', upstream: { nodes: { [up.hostPort]: 1 } } });
  await req(h.url + '/cache');
  assert.equal(compiles.filter((c) => c === 't-low:cached').length, before);
  put('/apisix/routes/c1', { uri: '/cache', plugins: { 't-low': { tag: 'changed' } }, upstream: { nodes: { [up.hostPort]: 1 } } });
  await req(h.url + '/cache');
  assert.ok(destroys.includes('t-low:cached'));
});

test('R-GEN-10 a change is live for the next request; in-flight requests keep their Runtime', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream(async (_req, res) => {
    await gate;
    res.end('old');
  });
  const fresh = await startUpstream((_req, res) => res.end('new'));
  try {
    put('/apisix/routes/live', { uri: '/live', plugins: { 't-low': { tag: 'old' } }, upstream: { nodes: { [slow.hostPort]: 1 } } });
    const inflight = fetch(h.url + '/live').then((r) => Promise.all([r.text(), r.headers.get('x-seen-t-low')]));
    await until(() => slow.requests.length === 1);
    put('/apisix/routes/live', { uri: '/live', plugins: { 't-low': { tag: 'new' } }, upstream: { nodes: { [fresh.hostPort]: 1 } } });
    const r = await req(h.url + '/live');
    assert.equal(r.text, 'new');
    assert.equal(r.headers.get('x-seen-t-low'), 'new');
    release();
    assert.deepEqual(await inflight, ['old', 'old']);
    del('/apisix/routes/live');
    assert.equal((await req(h.url + '/live')).status, 404);
  } finally {
    release();
    await slow.close();
    await fresh.close();
  }
});

test('R-UPS-6 connection failure 502, timeout 504, retry on another node', async () => {
  const dead = await freePort();
  put('/apisix/routes/e1', { uri: '/dead', upstream: { nodes: { [`127.0.0.1:${dead}`]: 1 } } });
  let r = await req(h.url + '/dead');
  assert.equal(r.status, 502);
  assert.match(r.text, /502 Bad Gateway/);
  assert.equal(r.headers.get('x-apisix-upstream-status'), '502');
  assert.equal(h.logged.at(-1)!.getVar('upstream_status'), '502');

  const hang = await startUpstream(() => {});
  try {
    put('/apisix/routes/e2', { uri: '/hang', timeout: { connect: 1, send: 1, read: 0.3 }, upstream: { nodes: { [hang.hostPort]: 1 } } });
    r = await req(h.url + '/hang');
    assert.equal(r.status, 504);
    assert.match(r.text, /504 Gateway Time-out/);
  } finally {
    await hang.close();
  }

  put('/apisix/routes/e3', { uri: '/retry', upstream: { nodes: [{ host: '127.0.0.1', port: dead, weight: 100 }, { host: '127.0.0.1', port: up.port, weight: 1 }] } });
  r = await req(h.url + '/retry', { method: 'POST', body: 'retry me' });
  assert.equal(r.status, 200);
  assert.equal(r.json.body, 'retry me', 'a small body is sent again on the retry');
  const ctx = h.logged.at(-1)!;
  assert.equal(ctx.getVar('upstream_status'), '502, 200');
  assert.match(String(ctx.getVar('upstream_response_time')), /^\d+\.\d{3}, \d+\.\d{3}$/);
});

test('R-UPS-7 X-APISIX-Upstream-Status on 5xx from the upstream', async () => {
  const five = await startUpstream((_q, res) => {
    res.statusCode = 503;
    res.end('busy');
  });
  try {
    put('/apisix/routes/u7', { uri: '/five', upstream: { nodes: { [five.hostPort]: 1 } } });
    const r = await req(h.url + '/five');
    assert.equal(r.status, 503);
    assert.equal(r.text, 'busy');
    assert.equal(r.headers.get('x-apisix-upstream-status'), '503');
  } finally {
    await five.close();
  }
});

test('R-UPS-5 R-GEN-17 streamed response and large request body', async () => {
  const streamer = await startUpstream((_q, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    const t = setInterval(() => {
      res.write(`data: ${i}\n\n`);
      if (++i === 3) {
        clearInterval(t);
        res.end();
      }
    }, 20);
  });
  try {
    put('/apisix/routes/sse', { uri: '/sse', upstream: { nodes: { [streamer.hostPort]: 1 } } });
    const r = await req(h.url + '/sse');
    assert.equal(r.text, 'data: 0\n\ndata: 1\n\ndata: 2\n\n');
    const big = 'x'.repeat(3 * 1024 * 1024);
    const e = await req(h.url + '/echo/big', { method: 'POST', body: big });
    assert.equal(e.json.body.length, big.length);
  } finally {
    await streamer.close();
  }
});

test('R-RSP-16 client leaving before the response: status 499, log phase runs', async () => {
  const hang = await startUpstream(() => {});
  try {
    put('/apisix/routes/abort', { uri: '/abort', upstream: { nodes: { [hang.hostPort]: 1 } } });
    const n = h.logged.length;
    const sock = net.connect(new URL(h.url).port as any, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /abort HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => hang.requests.length === 1);
    sock.destroy();
    await until(() => h.logged.length > n);
    assert.equal(h.logged.at(-1)!.status, 499);
    assert.equal(h.inFlight(), 0);
  } finally {
    await hang.close();
  }
});


export type { RequestContext };

test('R-RTE-1 R-GEN-11 undecodable paths and malformed Host headers answer 400', async () => {
  const port = Number(new URL(h.url).port);
  const raw = (payload: string) =>
    new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('connect', () => s.write(payload));
      s.on('close', () => resolve(out));
      setTimeout(() => s.destroy(), 500);
    });
  assert.match(await raw('GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw('GET /echo/x HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw('GET /echo/x HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
});

test('R-PIPE-10 a plugin with a proxy phase sends the request itself through the context writer (upstream unused); extra headers and byte counts apply', async () => {
  const calls: string[] = [];
  (plugins as Map<string, PluginDef>).set('t-proxy', {
    name: 't-proxy',
    priority: 1050,
    schema: { type: 'object' },
    access(ctx) {
      ctx.extraResponseHeaders['x-quota'] = '7';
    },
    async proxy(ctx) {
      calls.push('proxy');
      if (ctx.headers['x-reply']) return jsonError(429, { error_msg: 'nope' });
      ctx.writeHead(200, { 'content-type': 'text/plain' });
      ctx.write('abc');
      ctx.end('de');
    },
  });
  put('/apisix/routes/px', { uri: '/px', plugins: { 't-proxy': {} }, upstream: { nodes: { [up.hostPort]: 1 } } });
  const n = up.requests.length;
  let r = await req(h.url + '/px');
  assert.equal(r.text, 'abcde');
  assert.equal(r.headers.get('x-quota'), '7');
  assert.equal(up.requests.length, n);
  await until(() => h.logged.at(-1)?.getVar('uri') === '/px');
  assert.equal(h.logged.at(-1)!.getVar('body_bytes_sent'), 5);
  r = await req(h.url + '/px', { headers: { 'x-reply': '1' } });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('x-quota'), '7');
  assert.deepEqual(r.json, { error_msg: 'nope' });
  await until(() => h.logged.length > 0 && h.logged.at(-1)!.status === 429);
  assert.equal(h.logged.at(-1)!.getVar('body_bytes_sent'), Buffer.byteLength(r.text));
});

test('R-VAR-3 $upstream_addr is the connected ip:port when the node is a host name', async () => {
  put('/apisix/routes/named', { uri: '/named', upstream: { nodes: { [`localhost:${up.port}`]: 1 } } });
  const r = await req(h.url + '/named');
  if (r.status !== 200) return; // localhost may resolve to ::1 only on some hosts
  await until(() => h.logged.at(-1)?.getVar('uri') === '/named');
  assert.match(String(h.logged.at(-1)!.getVar('upstream_addr')), new RegExp(`^(127\\.0\\.0\\.1|\\[::1\\]):${up.port}$`));
  assert.equal(h.logged.at(-1)!.getVar('balancer_ip'), 'localhost');
});

test('R-UPS-4 node choice: weighted roundrobin and chash by header', async () => {
  const a = await startUpstream((_q, res) => res.end('A'));
  const b = await startUpstream((_q, res) => res.end('B'));
  try {
    put('/apisix/routes/rr', { uri: '/rr', upstream: { type: 'roundrobin', nodes: { [a.hostPort]: 2, [b.hostPort]: 1 } } });
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await req(h.url + '/rr')).text);
    assert.equal(seen.filter((x) => x === 'A').length, 4);
    assert.equal(seen.filter((x) => x === 'B').length, 2);

    put('/apisix/routes/ch', { uri: '/ch', upstream: { type: 'chash', hash_on: 'header', key: 'X-User', nodes: { [a.hostPort]: 1, [b.hostPort]: 1 } } });
    const per = new Map<string, Set<string>>();
    for (const user of ['u1', 'u2', 'u3', 'u4']) {
      for (let i = 0; i < 3; i++) {
        const t = (await req(h.url + '/ch', { headers: { 'x-user': user } })).text;
        if (!per.has(user)) per.set(user, new Set());
        per.get(user)!.add(t);
      }
    }
    for (const [user, nodes] of per) assert.equal(nodes.size, 1, `${user} always goes to the same node`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('R-RES-9 scheme https upstream (self-signed certificate accepted, SNI from the node)', async (t) => {
  let key: Buffer, cert: Buffer;
  try {
    const dir = mkdtempSync(path.join(tmpdir(), 'sy-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    key = readFileSync(path.join(dir, 'k.pem'));
    cert = readFileSync(path.join(dir, 'c.pem'));
  } catch {
    return t.skip('openssl not available');
  }
  const srv = https.createServer({ key, cert }, (q, res) => res.end(`tls ${q.headers.host}`));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    put('/apisix/routes/tls', { uri: '/tls', upstream: { scheme: 'https', pass_host: 'node', nodes: { [`127.0.0.1:${port}`]: 1 } } });
    const r = await req(h.url + '/tls');
    assert.equal(r.status, 200);
    assert.equal(r.text, `tls 127.0.0.1:${port}`);
    assert.equal(h.logged.at(-1)?.getVar('upstream_scheme') ?? 'https', 'https');
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test('R-UPS-6 send timeout: an upstream that stops taking the request body answers 504', async () => {
  const stuck = http.createServer(() => {
    /* never reads the body, never answers */
  });
  await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r));
  const port = (stuck.address() as net.AddressInfo).port;
  try {
    put('/apisix/routes/sendto', { uri: '/send-timeout', timeout: { connect: 2, send: 0.5, read: 30 }, upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } });
    const t0 = Date.now();
    const r = await req(h.url + '/send-timeout', { method: 'POST', body: Buffer.alloc(64 * 1024 * 1024, 97) }).catch((e) => ({ status: -1, text: String(e) }) as any);
    assert.equal(r.status, 504, r.text);
    assert.ok(Date.now() - t0 < 15_000);
  } finally {
    stuck.closeAllConnections();
    await new Promise<void>((r) => stuck.close(() => r()));
  }
});
