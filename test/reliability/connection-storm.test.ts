// Issue 16 item 3: connection storms against the real CLI. 2,000 client
// connections are opened and dropped at random points (mid request line,
// mid body, right after a full request, mid stream, so the upstream request
// is aborted too), then an upstream that drops every connection. The
// gateway keeps serving, answers each dropped upstream with an error instead
// of hanging, and leaks no socket: no client connection stays open or
// half-closed (CLOSE-WAIT), upstream connections are at most the idle pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'undici';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, sseChat } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const STORM = 2000;
const AT_ONCE = 50;

const openFds = (gw: GatewayProcess) => readdirSync(`/proc/${gw.proc.pid}/fd`).length;

/** TCP connections in `state` whose local (sport) or remote (dport) port is `port` (ss(8)) */
function sockets(state: 'established' | 'close-wait', side: 'sport' | 'dport', port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', state, `( ${side} = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim()).length;
}

/** no client connection of the storm is left open or half-closed, and the upstream pool is bounded */
async function settled(gw: GatewayProcess, proxyPort: number, upstreamPort: number, baseline: number): Promise<void> {
  const state = () => `client connections ${sockets('established', 'sport', proxyPort)} (close-wait ${sockets('close-wait', 'sport', proxyPort)}), upstream ${sockets('established', 'dport', upstreamPort)}, fds ${openFds(gw)} (baseline ${baseline})`;
  await until(() => sockets('established', 'sport', proxyPort) === 0 && sockets('close-wait', 'sport', proxyPort) === 0, 15_000, `the storm's client connections closed: ${state()}`, 100);
  // idle kept-alive upstream connections stay in the pool: at most one per concurrent storm connection
  assert.ok(sockets('established', 'dport', upstreamPort) <= AT_ONCE + 2, state());
  assert.equal(sockets('close-wait', 'dport', upstreamPort), 0, state());
  assert.ok(openFds(gw) <= baseline + AT_ONCE + 10, state());
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** one connection: writes part or all of a streamed chat request, then is destroyed */
function dropOne(port: number, rnd: () => number): Promise<void> {
  const body = JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'storm' }] });
  const req = `POST /storm HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const kind = Math.floor(rnd() * 4);
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = () => { sock.destroy(); resolve(); };
    sock.on('error', done);
    sock.on('close', () => resolve());
    sock.on('connect', () => {
      if (kind === 0) sock.write(req.slice(0, 1 + Math.floor(rnd() * 40)), done); // mid request line / headers
      else if (kind === 1) sock.write(req.slice(0, req.length - 1 - Math.floor(rnd() * body.length)), done); // mid body
      else if (kind === 2) sock.write(req, done); // a whole request, dropped before the answer
      else {
        sock.write(req);
        sock.once('data', done); // mid stream: the upstream request is aborted too
      }
    });
  });
}

test('a storm of 2,000 dropped client connections, then an upstream dropping every connection: the gateway keeps serving and leaks no socket', async (t) => {
  const mock = await startMockLlm();
  // a slow stream, so a connection dropped mid stream aborts a live upstream request
  mock.reply((r) => (r.body?.stream ? { sse: sseChat('gpt-4', ['a', 'b', 'c', 'd'], undefined, 50) } : { json: { choices: [{ message: { role: 'assistant', content: 'ok' } }] } }));
  t.after(() => mock.close());
  const gw = await startGateway({ config: { nginx_config: { http: { enable_access_log: false } } } });
  t.after(() => gw.kill());
  const ai = (uri: string, endpoint: string) => ({
    uri,
    plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer sk' } }, options: { model: 'gpt-4' }, override: { endpoint }, timeout: 3000 } },
  });
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/storm', ai('/storm', mock.url))).status, 201);
  // the test's own requests use an agent that is closed before sockets are counted
  let agent = new Agent();
  t.after(() => agent.close());
  const chat = async (uri: string) => {
    const res = await request(gw.proxyUrl + uri, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[{"role":"user","content":"hi"}]}', signal: AbortSignal.timeout(10_000) });
    await res.body.arrayBuffer();
    return res.statusCode;
  };
  const settle = async (upstreamPort: number) => {
    await agent.close();
    agent = new Agent();
    await settled(gw, port, upstreamPort, baseline);
  };
  assert.equal(await chat('/storm'), 200);
  const baseline = openFds(gw);

  const port = Number(new URL(gw.proxyUrl).port);
  const rnd = prng(16);
  let next = 0;
  await Promise.all(Array.from({ length: AT_ONCE }, async () => {
    while (next < STORM) {
      next++;
      await dropOne(port, rnd);
    }
  }));
  assert.equal(await chat('/storm'), 200, 'served right after the storm');
  assert.ok(mock.requests.some((r) => r.aborted), 'some upstream requests were aborted with their clients');
  await settle(mock.port);

  // the upstream drops every connection: each request is answered with an error, none hangs
  const dropper = await startMockLlm();
  t.after(() => dropper.close());
  dropper.reply({ drop: true });
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/dropper', ai('/dropper', dropper.url))).status, 201);
  const statuses = new Map<number, number>();
  let i = 0;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (i < 300) {
      i++;
      const s = await chat('/dropper');
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
  }));
  assert.ok([...statuses.keys()].every((s) => s >= 500), `every request answered with a 5xx: ${JSON.stringify([...statuses])}`);
  assert.ok(dropper.connections >= 300, `the upstream saw a connection per request (${dropper.connections})`);
  assert.equal(await chat('/storm'), 200, 'other routes are served');
  await settle(dropper.port);
  assert.equal(gw.proc.exitCode, null);
});
