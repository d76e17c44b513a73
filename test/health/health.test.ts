// Active health checks against real probe targets (R-HC-*), unit level
// against the HealthService with fast (sub-second) intervals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHealthService, transition, normalizeChecks, probePath, probeHeaders } from '../../src/llm/health/index.js';
import type { HealthReportEntry, HealthTarget } from '../../src/llm/health/types.js';
import { probeRequest } from '../../src/llm/health/probe.js';
import { memState, captureLog, waitFor, sleep, probeServer, tcpServer, activeResources } from './util.js';

function svc(opts: Partial<Parameters<typeof createHealthService>[0]> = {}) {
  const log = captureLog();
  const state = memState();
  const s = createHealthService({ state, disabled: false, log, ...opts });
  return { s, log, state };
}

const entry = (s: { report(): unknown[] }, name: string) =>
  (s.report() as HealthReportEntry[]).find((e) => e.instance === name);

test('R-HC-1 R-HC-2 normalizeChecks applies every default; unhealthy.timeout stands in for timeouts', () => {
  const c = normalizeChecks({ active: {} });
  assert.equal(c.type, 'http');
  assert.equal(c.timeoutMs, 1000);
  assert.equal(c.concurrency, 10);
  assert.equal(c.host, undefined);
  assert.equal(c.port, undefined);
  assert.equal(c.httpPath, '/');
  assert.equal(c.verify, true);
  assert.deepEqual(c.reqHeaders, []);
  assert.equal(c.healthy.intervalMs, 1000);
  assert.deepEqual([...c.healthy.statuses], [200, 302]);
  assert.equal(c.healthy.successes, 2);
  assert.equal(c.unhealthy.intervalMs, 1000);
  assert.deepEqual([...c.unhealthy.statuses], [429, 404, 500, 501, 502, 503, 504, 505]);
  assert.equal(c.unhealthy.httpFailures, 5);
  assert.equal(c.unhealthy.tcpFailures, 2);
  assert.equal(c.unhealthy.timeouts, 3);
  assert.equal(normalizeChecks({ active: { unhealthy: { timeout: 7 } } }).unhealthy.timeouts, 7);
  assert.equal(normalizeChecks({ active: { unhealthy: { timeout: 7, timeouts: 4 } } }).unhealthy.timeouts, 4);
  const d = normalizeChecks({
    active: {
      type: 'https', timeout: 2.5, host: 'h.example', port: 8443, http_path: '/hc', https_verify_certificate: false,
      req_headers: ['A: b'], healthy: { interval: 3, http_statuses: [204], successes: 4 },
      unhealthy: { interval: 5, http_statuses: [503], http_failures: 6, tcp_failures: 7, timeouts: 8 },
    },
  });
  assert.equal(d.type, 'https');
  assert.equal(d.timeoutMs, 2500);
  assert.equal(d.host, 'h.example');
  assert.equal(d.port, 8443);
  assert.equal(d.httpPath, '/hc');
  assert.equal(d.verify, false);
  assert.deepEqual(d.reqHeaders, ['A: b']);
  assert.equal(d.healthy.intervalMs, 3000);
  assert.deepEqual([...d.healthy.statuses], [204]);
  assert.equal(d.unhealthy.intervalMs, 5000);
  assert.deepEqual([...d.unhealthy.statuses], [503]);
  assert.deepEqual([d.healthy.successes, d.unhealthy.httpFailures, d.unhealthy.tcpFailures, d.unhealthy.timeouts], [4, 6, 7, 8]);
});

test('R-HC-8 R-HC-9 state machine transitions and counters', () => {
  const conf = normalizeChecks({ active: { healthy: { successes: 2 }, unhealthy: { http_failures: 3, tcp_failures: 2, timeouts: 2 } } });
  const c = { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 };
  let s = transition('healthy', c, 'success', conf);
  assert.equal(s, 'healthy');
  assert.deepEqual(c, { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 }, 'success while healthy changes nothing');
  s = transition(s, c, 'http_failure', conf);
  assert.equal(s, 'mostly_healthy');
  s = transition(s, c, 'http_failure', conf);
  assert.equal(s, 'mostly_healthy');
  s = transition(s, c, 'ignored', conf);
  assert.equal(s, 'mostly_healthy');
  assert.equal(c.http_failure, 2);
  s = transition(s, c, 'http_failure', conf);
  assert.equal(s, 'unhealthy');
  assert.equal(c.http_failure, 3);
  s = transition(s, c, 'tcp_failure', conf);
  assert.equal(s, 'unhealthy');
  assert.equal(c.tcp_failure, 0, 'failures while unhealthy change nothing');
  s = transition(s, c, 'success', conf);
  assert.equal(s, 'mostly_unhealthy');
  assert.deepEqual(c, { success: 1, http_failure: 0, tcp_failure: 0, timeout_failure: 0 });
  s = transition(s, c, 'timeout', conf);
  assert.equal(s, 'mostly_unhealthy');
  assert.deepEqual(c, { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 1 });
  s = transition(s, c, 'success', conf);
  s = transition(s, c, 'success', conf);
  assert.equal(s, 'healthy');
  assert.equal(c.success, 2, 'counters are not reset when the state changes');
  // R-HC-9: after 2 TCP failures with the default threshold: unhealthy with tcp_failure 2
  const c2 = { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 };
  const d = normalizeChecks({ active: {} });
  let s2 = transition('healthy', c2, 'tcp_failure', d);
  s2 = transition(s2, c2, 'tcp_failure', d);
  assert.equal(s2, 'unhealthy');
  assert.equal(c2.tcp_failure, 2);
  // apisix example: http_failures 1 → unhealthy at the first 500; successes 1 → healthy at the first 200
  const e = normalizeChecks({ active: { healthy: { successes: 1 }, unhealthy: { http_failures: 1 } } });
  const c3 = { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 };
  assert.equal(transition('healthy', c3, 'http_failure', e), 'unhealthy');
  assert.equal(transition('unhealthy', c3, 'success', e), 'healthy');
  // saturation at 255
  const c4 = { success: 0, http_failure: 255, tcp_failure: 0, timeout_failure: 0 };
  transition('mostly_healthy', c4, 'http_failure', normalizeChecks({ active: { unhealthy: { http_failures: 254 } } }));
  assert.equal(c4.http_failure, 255);
});

test('R-HC-4 auth.query is URL-encoded onto http_path (with & when it already has a query); auth headers join req_headers once', () => {
  assert.equal(probePath('/p', undefined), '/p');
  assert.equal(probePath('/p', {}), '/p');
  assert.equal(probePath('/p', { a: 'b', 'c d': 'e&f' }), '/p?a=b&c%20d=e%26f');
  assert.equal(probePath('/p?x=1', { a: 'b' }), '/p?x=1&a=b');
  assert.deepEqual(probeHeaders(['X-A: 1', 'Authorization: Bearer k'], { Authorization: 'Bearer k', 'api-key': 'z' }), ['X-A: 1', 'Authorization: Bearer k', 'api-key: z']);
  assert.deepEqual(probeHeaders([], undefined), []);
});

test('R-HC-4 probe request carries Host, Connection: close, req_headers and auth headers; query appended', () => {
  const req = probeRequest({ path: '/p?x=1', hostname: 'yourhost.com', headers: ['X-A: 1', 'Authorization: Bearer k'] });
  assert.equal(req, 'GET /p?x=1 HTTP/1.1\r\nHost: yourhost.com\r\nConnection: close\r\nX-A: 1\r\nAuthorization: Bearer k\r\n\r\n');
});

test('R-HC-4 R-HC-6 R-HC-9 R-HC-10 R-SCN-12 http probe: instance leaves after http_failures and rejoins after successes', async (t) => {
  const srv = await probeServer();
  const { s, state } = svc();
  t.after(async () => { s.close(); await srv.close(); });
  const target: HealthTarget = {
    name: 'llm-instance-2', scheme: 'http', host: '127.0.0.1', port: srv.port, index: 1,
    auth: { header: { Authorization: 'Bearer sk-1', 'X-Dup': 'same' }, query: { api_key: 'a b', v: '1' } },
    checks: {
      active: {
        type: 'http', host: 'yourhost.com', http_path: '/your/probe/path', req_headers: ['X-Probe: yes', 'X-Dup: same'],
        healthy: { interval: 0.05, successes: 1 }, unhealthy: { interval: 0.05, http_failures: 3 },
      },
    },
  };
  const h = s.register('/apisix/routes/r1', 'hash1', [target]);
  assert.equal(h.isHealthy('llm-instance-2'), true);
  assert.equal(h.isHealthy('not-checked'), true);
  await waitFor(() => srv.requests.length >= 2, 3000, 'two probes');
  const r = srv.requests[0]!;
  assert.equal(r.method, 'GET');
  assert.equal(r.url, '/your/probe/path?api_key=a%20b&v=1');
  assert.equal(r.headers.host, 'yourhost.com');
  assert.equal(r.headers.connection, 'close');
  assert.equal(r.headers['x-probe'], 'yes');
  assert.equal(r.headers.authorization, 'Bearer sk-1');
  assert.equal(r.headers['x-dup'], 'same', 'an auth header identical to a req_headers line is sent once');
  let e = entry(s, 'llm-instance-2')!;
  assert.deepEqual(e, {
    name: "/apisix/routes/r1#plugins['ai-proxy-multi'].instances[1]",
    instance: 'llm-instance-2',
    type: 'http',
    nodes: [{ ip: '127.0.0.1', port: srv.port, hostname: 'yourhost.com', status: 'healthy', counter: { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 } }],
  });
  const v0 = h.version;

  srv.status = 500;
  const flipAt = srv.requests.length;
  const took = await waitFor(() => !h.isHealthy('llm-instance-2'), 3000, 'unhealthy');
  const failing = srv.requests.slice(flipAt).length;
  assert.ok(failing >= 3 && failing <= 4, `left after ${failing} probes (3 failing expected)`);
  assert.ok(took < 2000, `left after ${took} ms`);
  e = entry(s, 'llm-instance-2')!;
  assert.equal(e.nodes[0]!.status, 'unhealthy');
  assert.equal(e.nodes[0]!.counter.http_failure, 3);
  assert.equal(h.version, v0 + 1, 'version increments on the change to unhealthy');
  const published = JSON.parse(state.values.get(`healthcheck|${e.name}|hash1`)!);
  assert.equal(published.status, 'unhealthy');

  srv.status = 200;
  await waitFor(() => h.isHealthy('llm-instance-2'), 3000, 'healthy again');
  e = entry(s, 'llm-instance-2')!;
  assert.equal(e.nodes[0]!.status, 'healthy');
  assert.deepEqual(e.nodes[0]!.counter, { success: 1, http_failure: 0, tcp_failure: 0, timeout_failure: 0 });
  assert.equal(h.version, v0 + 2);
  h.destroy();
  assert.deepEqual(s.report(), []);
});

test('R-HC-7 R-HC-11 schedule: first probe one interval after start, healthy vs unhealthy intervals', async (t) => {
  const srv = await probeServer();
  const { s } = svc();
  t.after(async () => { s.close(); await srv.close(); });
  const started = Date.now();
  const h = s.register('/apisix/routes/sched', 'h', [{
    name: 'a', scheme: 'http', host: '127.0.0.1', port: srv.port,
    checks: { active: { healthy: { interval: 0.3, successes: 1 }, unhealthy: { interval: 0.06, http_failures: 1 } } },
  }]);
  await waitFor(() => srv.requests.length >= 1, 3000, 'first probe');
  const first = srv.requests[0]!.at - started;
  assert.ok(first >= 280, `first probe after ${first} ms, expected one healthy interval (300 ms)`);
  srv.status = 503;
  await waitFor(() => !h.isHealthy('a'), 3000, 'unhealthy');
  const n = srv.requests.length;
  await waitFor(() => srv.requests.length >= n + 4, 3000, 'unhealthy-interval probes');
  const ats = srv.requests.slice(n - 1, n + 4).map((r) => r.at);
  const gaps = ats.slice(1).map((a, i) => a - ats[i]!);
  const avg = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  assert.ok(avg < 200, `unhealthy targets are probed every unhealthy.interval (avg gap ${avg} ms)`);
  h.destroy();
});

test('R-HC-6 statuses outside both lists are ignored; an unparsable status line is an HTTP failure', async (t) => {
  const srv = await probeServer();
  srv.status = 201;
  const garbage = await tcpServer({ onConn: (sock) => sock.end('garbage\r\n\r\n') });
  const { s } = svc();
  t.after(async () => { s.close(); await srv.close(); await garbage.close(); });
  const fast = { healthy: { interval: 0.03 }, unhealthy: { interval: 0.03, http_failures: 2 } };
  const h = s.register('/apisix/routes/ign', 'h', [
    { name: 'ignored', scheme: 'http', host: '127.0.0.1', port: srv.port, checks: { active: fast } },
    { name: 'garbage', scheme: 'http', host: '127.0.0.1', port: garbage.port, checks: { active: fast } },
  ]);
  await waitFor(() => !h.isHealthy('garbage'), 3000, 'garbage unhealthy');
  assert.equal(entry(s, 'garbage')!.nodes[0]!.counter.http_failure, 2);
  await waitFor(() => srv.requests.length >= 3, 3000, 'probes');
  const e = entry(s, 'ignored')!;
  assert.equal(e.nodes[0]!.status, 'healthy');
  assert.deepEqual(e.nodes[0]!.counter, { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 });
  h.destroy();
});

test('R-HC-5 R-HC-6 R-HC-9 tcp probe: a port that stops listening makes the instance unhealthy, listening again heals it', async (t) => {
  let srv = await tcpServer();
  const port = srv.port;
  const { s } = svc();
  t.after(async () => { s.close(); await srv.close(); });
  const h = s.register('/apisix/routes/tcp', 'h', [{
    name: 't', scheme: 'http', host: '127.0.0.1', port,
    checks: { active: { type: 'tcp', healthy: { interval: 0.04, successes: 2 }, unhealthy: { interval: 0.04 } } },
  }]);
  await waitFor(() => srv.connections >= 2, 3000, 'tcp probes');
  assert.equal(entry(s, 't')!.type, 'tcp');
  await srv.close();
  await waitFor(() => !h.isHealthy('t'), 3000, 'tcp unhealthy');
  let e = entry(s, 't')!;
  assert.equal(e.nodes[0]!.status, 'unhealthy');
  assert.equal(e.nodes[0]!.counter.tcp_failure, 2, 'default tcp_failures is 2');
  srv = await tcpServer({ port });
  await waitFor(() => entry(s, 't')!.nodes[0]!.status === 'mostly_unhealthy', 3000, 'mostly_unhealthy after one success');
  assert.equal(h.isHealthy('t'), false, 'mostly_unhealthy counts as unhealthy');
  await waitFor(() => h.isHealthy('t'), 3000, 'tcp healthy again');
  e = entry(s, 't')!;
  assert.equal(e.nodes[0]!.status, 'healthy');
  assert.equal(e.nodes[0]!.counter.success, 2);
  h.destroy();
});

test('R-HC-6 an http probe to a closed port is a TCP failure', async (t) => {
  const srv = await tcpServer();
  const port = srv.port;
  await srv.close();
  const { s } = svc();
  t.after(() => s.close());
  const h = s.register('/apisix/routes/closed', 'h', [{
    name: 'c', scheme: 'http', host: '127.0.0.1', port,
    checks: { active: { healthy: { interval: 0.03 }, unhealthy: { interval: 0.03, tcp_failures: 1 } } },
  }]);
  await waitFor(() => !h.isHealthy('c'), 3000, 'unhealthy');
  assert.deepEqual(entry(s, 'c')!.nodes[0]!.counter, { success: 0, http_failure: 0, tcp_failure: 1, timeout_failure: 0 });
  h.destroy();
});

test('R-HC-6 R-HC-2 a probe that hangs past its timeout counts as a timeout; timeouts threshold', async (t) => {
  const hang = await tcpServer({ onConn: () => { /* accept, never answer */ } });
  const { s } = svc();
  t.after(async () => { s.close(); await hang.close(); });
  const started = Date.now();
  const h = s.register('/apisix/routes/hang', 'h', [{
    name: 'slow', scheme: 'http', host: '127.0.0.1', port: hang.port,
    checks: { active: { timeout: 0.1, healthy: { interval: 0.05 }, unhealthy: { interval: 0.05, timeout: 2 } } },
  }]);
  await waitFor(() => entry(s, 'slow')?.nodes[0]?.status === 'mostly_healthy', 3000, 'first timeout');
  assert.equal(h.isHealthy('slow'), true, 'mostly_healthy counts as healthy');
  await waitFor(() => !h.isHealthy('slow'), 3000, 'unhealthy by timeouts');
  const took = Date.now() - started;
  assert.ok(took >= 280, `two probes of 50 ms interval + 100 ms timeout take ≥ 300 ms (${took})`);
  assert.deepEqual(entry(s, 'slow')!.nodes[0]!.counter, { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 2 });
  h.destroy();
  await sleep(20);
  // the hanging connections were closed by the prober
  assert.ok(hang.connections >= 2);
});

test('R-HC-4 https probe: SNI is the hostname; https_verify_certificate decides on a self-signed certificate', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hc-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'),
      '-days', '1', '-subj', '/CN=probe.test', '-addext', 'subjectAltName=DNS:probe.test'], { stdio: 'ignore' });
  } catch {
    t.skip('openssl not available');
    return;
  }
  const snis: string[] = [];
  const hosts: string[] = [];
  const server = https.createServer({ key: readFileSync(path.join(dir, 'k.pem')), cert: readFileSync(path.join(dir, 'c.pem')) }, (req, res) => {
    hosts.push(String(req.headers.host));
    res.end('ok');
  });
  server.on('secureConnection', (sock) => snis.push(String((sock as unknown as { servername: string }).servername)));
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const { s } = svc();
  t.after(() => { s.close(); server.closeAllConnections(); server.close(); });
  const fast = { healthy: { interval: 0.04, successes: 1 }, unhealthy: { interval: 0.04, tcp_failures: 1 } };
  const h = s.register('/apisix/routes/tls', 'h', [
    { name: 'noverify', scheme: 'https', host: '127.0.0.1', port, checks: { active: { type: 'https', host: 'probe.test', https_verify_certificate: false, ...fast } } },
    { name: 'verify', scheme: 'https', host: '127.0.0.1', port, checks: { active: { type: 'https', host: 'probe.test', ...fast } } },
  ]);
  await waitFor(() => !h.isHealthy('verify'), 3000, 'verify fails on a self-signed certificate');
  await waitFor(() => hosts.length >= 2, 3000, 'https probes');
  assert.equal(h.isHealthy('noverify'), true);
  assert.equal(entry(s, 'noverify')!.type, 'https');
  assert.equal(entry(s, 'noverify')!.nodes[0]!.hostname, 'probe.test');
  assert.ok(snis.includes('probe.test'), `SNI ${snis.join(',')}`);
  assert.equal(hosts[0], 'probe.test');
  assert.equal(entry(s, 'verify')!.nodes[0]!.counter.tcp_failure, 1);
  h.destroy();
});

test('R-HC-3 R-HC-12 endpoint host names are resolved; unresolvable hosts get no checker; a new IP resets the state', async (t) => {
  const srv = await probeServer();
  srv.status = 500;
  let answer: string | Error = '127.0.0.1';
  const { s, log } = svc({ dnsTtlMs: 0, resolve: async () => { if (answer instanceof Error) throw answer; return answer; } });
  t.after(async () => { s.close(); await srv.close(); });
  const checks = { active: { port: srv.port, healthy: { interval: 0.04 }, unhealthy: { interval: 0.04, http_failures: 1, tcp_failures: 5 } } };
  const h = s.register('/apisix/routes/dns', 'h', [{ name: 'named', scheme: 'https', host: 'llm.example.test', port: 443, checks }]);
  await waitFor(() => !h.isHealthy('named'), 3000, 'unhealthy');
  let e = entry(s, 'named')!;
  assert.equal(e.nodes[0]!.ip, '127.0.0.1');
  assert.equal(e.nodes[0]!.port, srv.port, 'checks.active.port wins over the endpoint port');
  assert.equal(e.nodes[0]!.hostname, 'llm.example.test', 'hostname defaults to the endpoint host');
  answer = '127.0.0.2';
  await waitFor(() => entry(s, 'named')!.nodes[0]!.ip === '127.0.0.2', 3000, 'new IP');
  e = entry(s, 'named')!;
  assert.ok(log.lines.some((l) => l.includes('state reset')));
  assert.ok(e.nodes[0]!.status === 'healthy' || e.nodes[0]!.status === 'mostly_healthy', e.nodes[0]!.status);
  h.destroy();

  answer = new Error('ENOTFOUND nowhere.invalid');
  const h2 = s.register('/apisix/routes/dns2', 'h', [{ name: 'nowhere', scheme: 'https', host: 'nowhere.invalid', port: 443, checks }]);
  await waitFor(() => log.lines.some((l) => l.includes('cannot resolve nowhere.invalid')), 3000, 'resolve warning');
  assert.equal(entry(s, 'nowhere'), undefined, 'no checker is listed');
  assert.equal(h2.isHealthy('nowhere'), true, 'the instance stays a candidate');
  h2.destroy();
});

test('R-HC-15 disable_upstream_healthcheck: checks ignored, nothing listed, log line', async () => {
  const { s, log } = svc({ disabled: true });
  const h = s.register('/apisix/routes/off', 'h', [{ name: 'x', scheme: 'http', host: '127.0.0.1', port: 1, checks: { active: { healthy: { interval: 0.01 } } } }]);
  await sleep(50);
  assert.equal(h.isHealthy('x'), true);
  assert.equal(h.version, 0);
  assert.deepEqual(s.report(), []);
  assert.ok(log.lines.some((l) => l.includes('disabled upstream healthcheck')));
  h.destroy();
  s.close();
});

test('R-HC-12 checkers are reused for the same (parentKey, confHash), replaced on a new hash, stopped on destroy', async (t) => {
  const srv = await probeServer();
  const { s } = svc();
  t.after(async () => { s.close(); await srv.close(); });
  const target = (name: string, index: number): HealthTarget => ({
    name, index, scheme: 'http', host: '127.0.0.1', port: srv.port, checks: { active: { healthy: { interval: 0.05 }, unhealthy: { interval: 0.05 } } },
  });
  const a1 = s.register('/apisix/routes/1', 'h1', [target('a', 0), target('b', 2)]);
  const a2 = s.register('/apisix/routes/1', 'h1', [target('a', 0), target('b', 2)]);
  assert.deepEqual((s.report() as HealthReportEntry[]).map((e) => e.name), [
    "/apisix/routes/1#plugins['ai-proxy-multi'].instances[0]",
    "/apisix/routes/1#plugins['ai-proxy-multi'].instances[2]",
  ]);
  assert.equal(s.stats().checkers, 2);
  // configuration change: a new checker set starts with a fresh state, the old one stops on destroy
  const b = s.register('/apisix/routes/1', 'h2', [target('a', 0)]);
  assert.equal(s.stats().groups, 2);
  a1.destroy();
  a1.destroy(); // idempotent
  assert.equal(s.stats().groups, 2, 'still referenced by a2');
  a2.destroy();
  assert.equal(s.stats().groups, 1);
  assert.deepEqual((s.report() as HealthReportEntry[]).map((e) => e.instance), ['a']);
  assert.equal(a2.isHealthy('a'), true);
  b.destroy();
  assert.deepEqual(s.report(), []);
  assert.deepEqual(s.stats(), { groups: 0, checkers: 0, inFlight: 0, waiting: 0 });
});

test('R-HC-7 R-HC-12 a few hundred registrations created and destroyed leave no timers or sockets; probe load is bounded', async (t) => {
  const target = await tcpServer({ onConn: (sock) => sock.end('HTTP/1.1 200 OK\r\n\r\n') });
  // accepts and reads, never answers (resume() so that the server side sees the prober's close)
  const hang = await tcpServer({ onConn: (sock) => sock.resume() });
  t.after(async () => { await target.close(); await hang.close(); });
  await sleep(20);
  const before = activeResources();
  const { s } = svc({ maxConcurrentProbes: 8 });
  const handles = [];
  for (let i = 0; i < 200; i++) {
    handles.push(s.register(`/apisix/routes/many-${i}`, 'h', [
      { name: 'ok', scheme: 'http', host: '127.0.0.1', port: target.port, checks: { active: { healthy: { interval: 0.05 } } } },
      { name: 'hang', scheme: 'http', host: '127.0.0.1', port: hang.port, checks: { active: { timeout: 5, healthy: { interval: 0.05 } } } },
    ]));
  }
  let maxInFlight = 0;
  for (let i = 0; i < 30; i++) {
    maxInFlight = Math.max(maxInFlight, s.stats().inFlight);
    await sleep(10);
  }
  assert.ok(maxInFlight >= 1 && maxInFlight <= 8, `in flight ${maxInFlight}`);
  assert.ok(s.stats().waiting > 0, 'probes wait for a slot');
  for (const h of handles) h.destroy();
  await sleep(0);
  assert.deepEqual(s.stats(), { groups: 0, checkers: 0, inFlight: 0, waiting: 0 });
  await sleep(100);
  const after = activeResources();
  assert.ok((after.Timeout ?? 0) <= (before.Timeout ?? 0), `timers: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`);
  assert.ok((after.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0), `sockets: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`);
  s.close();
});

test('R-HC-14 close() stops every checker', async (t) => {
  const srv = await probeServer();
  t.after(() => srv.close());
  const { s } = svc();
  s.register('/apisix/routes/c1', 'h', [{ name: 'a', scheme: 'http', host: '127.0.0.1', port: srv.port, checks: { active: { healthy: { interval: 0.02 } } } }]);
  s.close();
  const n = srv.requests.length;
  await sleep(80);
  assert.equal(srv.requests.length, n);
  assert.deepEqual(s.report(), []);
  // registering after close never starts probes
  const h = s.register('/apisix/routes/c2', 'h', [{ name: 'a', scheme: 'http', host: '127.0.0.1', port: srv.port, checks: { active: {} } }]);
  assert.equal(h.isHealthy('a'), true);
});

test('R-HC-3 R-HC-4 IPv6 endpoint hosts (bracketed or bare) are probed at the address, Host keeps the brackets', async (t) => {
  const http = await import('node:http');
  const hosts: string[] = [];
  const server = http.createServer((req, res) => { hosts.push(String(req.headers.host)); res.end(); });
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => resolve(true));
  });
  if (!ok) {
    t.skip('no IPv6 loopback');
    return;
  }
  const port = (server.address() as AddressInfo).port;
  const { s } = svc();
  t.after(() => { s.close(); server.closeAllConnections(); server.close(); });
  const checks = { active: { healthy: { interval: 0.03 }, unhealthy: { interval: 0.03, tcp_failures: 1 } } };
  const h = s.register('/apisix/routes/v6', 'h', [
    { name: 'bracketed', scheme: 'http', host: '[::1]', port, checks },
    { name: 'bare', scheme: 'http', host: '::1', port, checks },
  ]);
  await waitFor(() => hosts.length >= 4, 3000, 'probes');
  assert.ok(h.isHealthy('bracketed') && h.isHealthy('bare'));
  assert.deepEqual([...new Set(hosts)], ['[::1]']);
  assert.equal(entry(s, 'bracketed')!.nodes[0]!.ip, '::1');
  assert.equal(entry(s, 'bare')!.nodes[0]!.hostname, '[::1]');
  h.destroy();
});
