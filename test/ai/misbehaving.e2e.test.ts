// Issue #13: one end-to-end matrix of upstreams that misbehave on purpose,
// through the real CLI on real sockets. Each row shows its outcome in all four
// places at once: (a) the client's answer, (b) `$llm_attempts` (and
// `$llm_stream_error`) in the access log, (c) the Prometheus deltas of
// `apisix_llm_attempts_total{route_id,instance,outcome}` and
// `apisix_http_status{code,route}`, (d) `/v1/healthcheck` on the Control API.
// Spec: 12-beyond.md R-RTY-1..4, R-CAP-2/3, R-STR-1..3, R-PHC-1/2.
// The single-observation tests live in streams.e2e, cooldown and proxy-multi;
// this file checks that the observations agree with each other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, sseChat, type MockResponse } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

const CHAT = { model: 'gpt-4', messages: [{ role: 'user', content: 'What is 1+1?' }] };
const NAMES = ['a', 'b', 'c'];
let gw: GatewayProcess;

before(async () => {
  gw = await startGateway({
    config: { nginx_config: { http: { access_log_format: '$request_uri $status "$llm_stream_error" "$llm_attempts"' } } },
  });
});
after(async () => {
  await gw?.stop();
});

// ---- upstreams -----------------------------------------------------------

interface Upstream { url: string; count(): number; close(): Promise<void> }

/** the node:http mock, answering `answers` in turn and then `then` */
async function mockUp(answers: MockResponse[], then: MockResponse = { json: chatCompletion('gpt-4') }): Promise<Upstream> {
  const m = await startMockLlm();
  let n = 0;
  m.reply(() => answers[n++] ?? then);
  return { url: m.url, count: () => m.requests.length, close: () => m.close() };
}

/**
 * a raw TCP upstream: `behave` gets the socket once a whole request (head and
 * content-length body) has arrived, so resets land at exact points
 */
async function rawUp(behave: (sock: net.Socket) => void): Promise<Upstream> {
  const socks = new Set<net.Socket>();
  let requests = 0;
  const srv = net.createServer((sock) => {
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      if (buf.length - end - 4 < len) return;
      sock.off('data', onData);
      requests++;
      behave(sock);
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    count: () => requests,
    close: () => new Promise((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }),
  };
}

const SSE_HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
const delta = (content: string) => `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;

// ---- routes --------------------------------------------------------------

/** ai-proxy-multi over the upstreams, named a, b, c in falling priority */
function multi(ups: Upstream[], conf: Record<string, unknown> = {}, inst: Record<string, unknown>[] = []): Record<string, unknown> {
  return {
    'ai-proxy-multi': {
      fallback_strategy: ['http_5xx'],
      ...conf,
      instances: ups.map((u, i) => ({
        name: NAMES[i], provider: 'openai', weight: 1, priority: ups.length - i, auth: {}, override: { endpoint: u.url }, ...inst[i],
      })),
    },
  };
}

// ---- observations --------------------------------------------------------

/** the access-log line of exactly this request uri */
async function accessLine(uri: string): Promise<{ status: number; streamError: string; trail: string[] }> {
  let line: string | undefined;
  await until(() => {
    let text = '';
    try { text = readFileSync(path.join(gw.dir, 'logs/access.log'), 'utf8'); } catch { /* not yet */ }
    line = text.split('\n').find((l) => l.startsWith(uri + ' '));
    return line !== undefined;
  }, 15_000, `access log line for ${uri}`);
  const m = /^\S+ (\d+) "([^"]*)" "([^"]*)"$/.exec(line!);
  assert.ok(m, `access log line shape: ${line}`);
  return { status: Number(m[1]), streamError: m[2]!, trail: m[3] === '' ? [] : m[3]!.split(',') };
}

type Samples = { name: string; labels: Record<string, string>; value: number }[];
async function scrape(): Promise<Samples> {
  const text = await (await fetch(gw.metricsUrl + '/apisix/prometheus/metrics')).text();
  const out: Samples = [];
  for (const l of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(l);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]!] = p[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
function sum(s: Samples, name: string, want: Record<string, string>): number {
  let n = 0;
  for (const x of s) if (x.name === name && Object.entries(want).every(([k, v]) => x.labels[k] === v)) n += x.value;
  return n;
}

/** the /v1/healthcheck node of each instance of the route that is listed */
async function health(routeId: string): Promise<Record<string, any>> {
  const list = await (await fetch(gw.controlUrl + '/v1/healthcheck')).json();
  const out: Record<string, any> = {};
  if (Array.isArray(list)) {
    for (const e of list) if (String(e.name).startsWith(`/apisix/routes/${routeId}#`)) out[e.instance] = e.nodes[0];
  }
  return out;
}

async function post(uri: string, stream: boolean): Promise<{ status: number; text: string; ms: number }> {
  const t0 = Date.now();
  const r = await fetch(gw.proxyUrl + uri, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...CHAT, ...(stream ? { stream: true } : {}) }) });
  const text = await r.text();
  return { status: r.status, text, ms: Date.now() - t0 };
}

// ---- answer shapes -------------------------------------------------------

const completion = (text: string) => assert.equal(JSON.parse(text).choices[0].message.content, '1+1 equals 2.');
const relayedError = (marker: string) => (text: string) => assert.match(text, new RegExp(marker));
/** an SSE answer that relayed `relayed` and then ended with one error event of `code`, without [DONE] */
const streamEndsWith = (code: string, relayed?: string) => (text: string) => {
  const events = text.split('\n\n').filter((e) => e.trim() !== '');
  const last = events.at(-1)!;
  assert.ok(last.startsWith('data: '), `last event: ${last}`);
  let parsed: any;
  try { parsed = JSON.parse(last.slice(6)); } catch { assert.fail(`the last event is not one JSON error event: ${JSON.stringify(text)}`); }
  assert.equal(parsed.error?.code, code, last);
  assert.ok(!text.includes('[DONE]'), text);
  if (relayed !== undefined) assert.ok(text.includes(`"content":"${relayed}"`), text);
};
const streamComplete = (text: string) => assert.ok(text.endsWith('data: [DONE]\n\n'), text);

// ---- the matrix ----------------------------------------------------------

interface Step {
  stream?: boolean;
  status: number;
  body?: (text: string) => void;
  /** `name:outcome` in order (milliseconds are checked to be integers) */
  trail: string[];
  streamError?: string;
  /** an upper bound on how long the client waited */
  maxMs?: number;
  minMs?: number;
}
interface Row {
  id: string;
  title: string;
  todo?: string;
  upstreams: () => Promise<Upstream[]>;
  plugins: (ups: Upstream[]) => Record<string, unknown>;
  steps: Step[];
  /** requests each upstream received */
  sent?: number[];
  /** the route's /v1/healthcheck nodes by instance after the steps; unset: none listed */
  health?: (nodes: Record<string, any>) => void;
}

const RETRY_IN_S = 30;
const RETRY_DATE_S = 120;

const rows: Row[] = [
  {
    id: 'reset-before-head',
    title: 'reset before the response head: connect_error, fallback, passive tcp_failures marks it unhealthy (R-FB-4, R-PHC-1)',
    upstreams: async () => [await rawUp((s) => s.resetAndDestroy()), await mockUp([])],
    plugins: (u) => multi(u, {}, [{ checks: { passive: { unhealthy: { tcp_failures: 1 } } } }]),
    steps: [{ status: 200, body: completion, trail: ['a:connect_error', 'b:ok'] }],
    sent: [1, 1],
    health: (n) => assert.equal(n.a?.status, 'unhealthy', JSON.stringify(n)),
  },
  {
    id: 'reset-after-head',
    title: 'reset after the head of a buffered answer, nothing sent to the client yet: fallback (R-FB-4)',
    upstreams: async () => [
      await rawUp((s) => { s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{"id":"x","choices":['); setImmediate(() => s.resetAndDestroy()); }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u),
    steps: [{ status: 200, body: completion, trail: ['a:connect_error', 'b:ok'] }],
    sent: [1, 1],
  },
  {
    id: 'reset-mid-stream',
    title: 'reset mid-stream after bytes reached the client: one upstream_closed error event, no fallback (R-STR-2)',
    upstreams: async () => [
      await rawUp((s) => { s.write(SSE_HEAD + chunk(delta('one ')) + chunk(delta('two '))); setTimeout(() => s.resetAndDestroy(), 20); }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u),
    steps: [{ stream: true, status: 200, body: streamEndsWith('upstream_closed', 'two '), trail: ['a:connect_error'], streamError: 'upstream_closed' }],
    sent: [1, 0],
  },
  {
    id: 'ttft',
    title: 'silence before the first byte past ttft_timeout_ms: ttft_timeout, fallback before anything was sent (R-STR-1)',
    upstreams: async () => [await mockUp([{ hang: true }]), await mockUp([])],
    plugins: (u) => multi(u, { ttft_timeout_ms: 800 }),
    steps: [{ status: 200, body: completion, trail: ['a:ttft_timeout', 'b:ok'], minMs: 700, maxMs: 6000 }],
    sent: [1, 1],
  },
  {
    id: 'ttft-stream',
    title: 'streamed: a head without a first event past ttft_timeout_ms falls back; the held head is the fallback\'s (R-STR-1)',
    upstreams: async () => [await rawUp((s) => s.write(SSE_HEAD)), await mockUp([], { sse: sseChat('gpt-4') })],
    plugins: (u) => multi(u, { ttft_timeout_ms: 800 }),
    steps: [{ stream: true, status: 200, body: streamComplete, trail: ['a:ttft_timeout', 'b:ok'], minMs: 700, maxMs: 6000 }],
    sent: [1, 1],
  },
  {
    id: 'idle',
    // the idle limit rides on undici's bodyTimeout, whose coarse timers may fire a few hundred ms early
    title: 'silence between events past stream_idle_timeout_ms: upstream_timeout error event (R-STR-3)',
    upstreams: async () => [await rawUp((s) => s.write(SSE_HEAD + chunk(delta('first ')))), await mockUp([])],
    plugins: (u) => multi(u, { stream_idle_timeout_ms: 800 }),
    steps: [{ stream: true, status: 200, body: streamEndsWith('upstream_timeout', 'first '), trail: ['a:timeout'], streamError: 'upstream_timeout', minMs: 400, maxMs: 6000 }],
    sent: [1, 0],
  },
  {
    id: 'endless',
    title: 'an endless stream past max_stream_duration_ms: stream_too_long error event, upstream aborted (R-CAP-2)',
    upstreams: async () => [
      await rawUp((s) => {
        s.write(SSE_HEAD);
        const t = setInterval(() => s.write(chunk(delta('x'))), 20);
        s.on('close', () => clearInterval(t));
      }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u, { max_stream_duration_ms: 800 }),
    steps: [{ stream: true, status: 200, body: streamEndsWith('stream_too_long', 'x'), trail: ['a:timeout'], streamError: 'stream_too_long', minMs: 700, maxMs: 6000 }],
    sent: [1, 0],
  },
  {
    id: 'oversized',
    title: 'an oversized buffered answer past max_response_bytes: 502, not a fallback (R-CAP-3)',
    upstreams: async () => [await mockUp([{ json: chatCompletion('gpt-4', 'z'.repeat(5000)) }]), await mockUp([])],
    plugins: (u) => multi(u, { max_response_bytes: 1000 }),
    steps: [{ status: 502, trail: ['a:502'] }],
    sent: [1, 0],
  },
  {
    id: 'oversized-stream',
    title: 'an oversized stream past max_response_bytes: response_too_large error event (R-CAP-3, R-STR-2)',
    upstreams: async () => [await mockUp([{ sse: sseChat('gpt-4', Array.from({ length: 60 }, (_, i) => `piece${i} `), null, 1) }]), await mockUp([])],
    plugins: (u) => multi(u, { max_response_bytes: 1000 }),
    steps: [{ stream: true, status: 200, body: streamEndsWith('response_too_large', 'piece0 '), trail: ['a:502'], streamError: 'response_too_large' }],
    sent: [1, 0],
  },
  {
    id: 'broken-chunked',
    title: 'broken chunked framing mid-stream: malformed_stream error event (R-STR-2)',
    upstreams: async () => [
      await rawUp((s) => { s.write(SSE_HEAD + chunk(delta('half'))); setTimeout(() => s.write('zz-not-a-chunk-size\r\n'), 20); }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u),
    steps: [{ stream: true, status: 200, body: streamEndsWith('malformed_stream', 'half'), trail: ['a:connect_error'], streamError: 'malformed_stream' }],
    sent: [1, 0],
  },
  {
    id: 'malformed-sse',
    title: 'malformed SSE: a 2xx stream whose body ends cleanly inside an event: malformed_stream error event, not a silent truncation (R-STR-2)',
    upstreams: async () => [
      await rawUp((s) => { s.write(SSE_HEAD + chunk(delta('part')) + chunk('data: {"choices":[{"index":0,"delta":{"content":"cut')); setTimeout(() => s.end('0\r\n\r\n'), 20); }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u),
    steps: [{ stream: true, status: 200, body: streamEndsWith('malformed_stream', 'part'), trail: ['a:502'], streamError: 'malformed_stream' }],
    sent: [1, 0],
  },
  {
    id: 'retry-after-s',
    title: '429 with Retry-After in seconds: fallback, then cooling_down with 0 ms; /v1/healthcheck cooling_down (R-PHC-2)',
    upstreams: async () => [await mockUp([{ status: 429, headers: { 'retry-after': String(RETRY_IN_S) }, json: { error: { message: 'slow down' } } }]), await mockUp([])],
    plugins: (u) => multi(u, { fallback_strategy: ['http_429'] }),
    steps: [
      { status: 200, body: completion, trail: ['a:429', 'b:ok'] },
      { status: 200, body: completion, trail: ['a:cooling_down', 'b:ok'] },
    ],
    sent: [1, 2],
    health: (n) => {
      assert.equal(n.a?.status, 'cooling_down', JSON.stringify(n));
      assert.ok(n.a.cooldown_left_s > RETRY_IN_S - 10 && n.a.cooldown_left_s <= RETRY_IN_S, JSON.stringify(n.a));
      assert.equal(n.b, undefined, 'the healthy instance without checks is not listed');
    },
  },
  {
    id: 'retry-after-date',
    title: '429 with Retry-After as an HTTP date: the same cool-down (R-PHC-2)',
    upstreams: async () => [await mockUp([{ status: 429, headers: { 'retry-after': new Date(Date.now() + RETRY_DATE_S * 1000).toUTCString() }, json: { error: { message: 'slow down' } } }]), await mockUp([])],
    plugins: (u) => multi(u, { fallback_strategy: ['http_429'] }),
    steps: [
      { status: 200, body: completion, trail: ['a:429', 'b:ok'] },
      { status: 200, body: completion, trail: ['a:cooling_down', 'b:ok'] },
    ],
    sent: [1, 2],
    health: (n) => {
      assert.equal(n.a?.status, 'cooling_down', JSON.stringify(n));
      assert.ok(n.a.cooldown_left_s > RETRY_DATE_S - 15 && n.a.cooldown_left_s <= RETRY_DATE_S, JSON.stringify(n.a));
    },
  },
  {
    id: 'fallback-401-402',
    title: '401 and 402 with fallback_http_statuses [401, 402] and no fallback_strategy: fallback; 403 is relayed (R-RTY-1)',
    upstreams: async () => [
      await mockUp([
        { status: 401, json: { error: { message: 'revoked-key' } } },
        { status: 402, json: { error: { message: 'out-of-credit' } } },
        { status: 403, json: { error: { message: 'forbidden-403' } } },
      ]),
      await mockUp([]),
    ],
    plugins: (u) => ({ 'ai-proxy-multi': { ...(multi(u)['ai-proxy-multi'] as object), fallback_strategy: undefined, fallback_http_statuses: [401, 402] } }),
    steps: [
      { status: 200, body: completion, trail: ['a:401', 'b:ok'] },
      { status: 200, body: completion, trail: ['a:402', 'b:ok'] },
      { status: 403, body: relayedError('forbidden-403'), trail: ['a:403'] },
    ],
    sent: [3, 2],
  },
  {
    id: 'fast-500',
    title: 'a fast 500 within retry_on_failure_within_ms falls back (R-RTY-3)',
    upstreams: async () => [await mockUp([{ status: 500, json: { error: { message: 'fast-500' } } }]), await mockUp([])],
    plugins: (u) => multi(u, { retry_on_failure_within_ms: 1500 }),
    steps: [{ status: 200, body: completion, trail: ['a:500', 'b:ok'] }],
    sent: [1, 1],
  },
  {
    id: 'slow-500',
    title: 'a slow 500 past retry_on_failure_within_ms is relayed as it is (R-RTY-3)',
    upstreams: async () => [await mockUp([{ status: 500, delayMs: 2500, json: { error: { message: 'slow-500' } } }]), await mockUp([])],
    plugins: (u) => multi(u, { retry_on_failure_within_ms: 1500 }),
    steps: [{ status: 500, body: relayedError('slow-500'), trail: ['a:500'], minMs: 2400 }],
    sent: [1, 0],
  },
  {
    id: 'max-retries-0',
    title: 'max_retries 0: the first 500 is relayed, nothing else is tried (R-RTY-2)',
    upstreams: async () => [
      await mockUp([], { status: 500, json: { error: { message: 'a-500' } } }),
      await mockUp([], { status: 500, json: { error: { message: 'b-500' } } }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u, { max_retries: 0 }),
    steps: [{ status: 500, body: relayedError('a-500'), trail: ['a:500'] }],
    sent: [1, 0, 0],
  },
  {
    id: 'max-retries-1',
    title: 'max_retries 1: one further instance, then its 500 is relayed; the third is never tried (R-RTY-2)',
    upstreams: async () => [
      await mockUp([], { status: 500, json: { error: { message: 'a-500' } } }),
      await mockUp([], { status: 500, json: { error: { message: 'b-500' } } }),
      await mockUp([]),
    ],
    plugins: (u) => multi(u, { max_retries: 1 }),
    steps: [{ status: 500, body: relayedError('b-500'), trail: ['a:500', 'b:500'] }],
    sent: [1, 1, 0],
  },
];

const ATTEMPTS = 'apisix_llm_attempts_total';
const STATUS = 'apisix_http_status';

for (const row of rows) {
  test(`${row.id}: ${row.title}`, { todo: row.todo, timeout: 30_000 }, async (t) => {
    const ups = await row.upstreams();
    t.after(() => Promise.all(ups.map((u) => u.close())));
    const put = await gw.admin('PUT', `/apisix/admin/routes/${row.id}`, { uri: `/mx/${row.id}/*`, plugins: { prometheus: {}, ...row.plugins(ups) } });
    assert.ok(put.status === 200 || put.status === 201, `PUT route: ${put.status} ${put.text}`);
    const before = await scrape();

    for (const [i, step] of row.steps.entries()) {
      const uri = `/mx/${row.id}/v1/chat/completions?step=${i}`;
      const r = await post(uri, step.stream === true);
      // (a) the answer
      assert.equal(r.status, step.status, `step ${i} status: ${r.text}`);
      step.body?.(r.text);
      if (step.maxMs !== undefined) assert.ok(r.ms < step.maxMs, `step ${i} answered after ${r.ms} ms`);
      if (step.minMs !== undefined) assert.ok(r.ms >= step.minMs, `step ${i} answered after only ${r.ms} ms`);
      // (b) the access log
      const line = await accessLine(uri);
      assert.equal(line.status, step.status);
      assert.equal(line.streamError, step.streamError ?? '', `step ${i} $llm_stream_error`);
      for (const a of line.trail) assert.match(a, /^[a-z]+:[a-z_0-9]+:\d+$/, `attempt ${a}`);
      assert.deepEqual(line.trail.map((a) => a.replace(/:\d+$/, '')), step.trail, `step ${i} $llm_attempts`);
      for (const a of line.trail) if (/:(cooling_down|unhealthy|rate_limited):/.test(a)) assert.match(a, /:0$/, 'a skipped instance has 0 ms');
    }
    if (row.sent) assert.deepEqual(ups.map((u) => u.count()), row.sent, 'requests each upstream received');

    // (c) the metrics: the attempt counter follows the trails, one status per answer
    const want = new Map<string, number>();
    for (const s of row.steps) for (const a of s.trail) want.set(a, (want.get(a) ?? 0) + 1);
    const codes = new Map<number, number>();
    for (const s of row.steps) codes.set(s.status, (codes.get(s.status) ?? 0) + 1);
    const totalAttempts = row.steps.reduce((n, s) => n + s.trail.length, 0);
    let after: Samples = [];
    await until(async () => {
      after = await scrape();
      return sum(after, ATTEMPTS, { route_id: row.id }) - sum(before, ATTEMPTS, { route_id: row.id }) >= totalAttempts
        && sum(after, STATUS, { route: row.id }) - sum(before, STATUS, { route: row.id }) >= row.steps.length;
    }, 10_000, 'the metrics of the row').catch(() => { /* the asserts below say what differs */ });
    const d = (name: string, labels: Record<string, string>) => sum(after, name, labels) - sum(before, name, labels);
    assert.equal(d(ATTEMPTS, { route_id: row.id }), totalAttempts, 'attempts counted for the route');
    for (const [a, n] of want) {
      const [instance, outcome] = a.split(':') as [string, string];
      assert.equal(d(ATTEMPTS, { route_id: row.id, instance, outcome }), n, `${ATTEMPTS}{instance=${instance},outcome=${outcome}}`);
    }
    assert.equal(d(STATUS, { route: row.id }), row.steps.length, 'one status per answer');
    for (const [code, n] of codes) assert.equal(d(STATUS, { route: row.id, code: String(code) }), n, `${STATUS}{code=${code}}`);

    // (d) the health state
    const nodes = await health(row.id);
    if (row.health) row.health(nodes);
    else assert.deepEqual(nodes, {}, 'no health or cool-down change is listed');
  });
}
