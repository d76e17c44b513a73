// `nginx_config.worker_processes: 2` end to end (R-WRK-1..3, R-PHC-3): the
// real CLI, real sockets, every request on a fresh connection (so the
// cluster's round-robin hands consecutive requests to different workers). A
// worker is identified by `$pid` in the access log, and by the
// `worker N (pid P) ready` lines of the error log.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, sseChat, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

interface Res { status: number; headers: http.IncomingHttpHeaders; text: string }

/** one request on its own connection (Connection: close) */
function fresh(url: string, opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = http.request(url, {
      method: opts.method ?? (body ? 'POST' : 'GET'),
      agent: false,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

const LOG_FORMAT = '$pid $request_method $uri $status $remote_port';
const LINE = /^(\d+) (GET|POST) (\/\S*) (\d{3}) (\d+)$/;

function workerPids(gw: GatewayProcess): number[] {
  return [...gw.stderr().matchAll(/worker \d+ \(pid (\d+)\) ready/g)].map((m) => Number(m[1]));
}

function accessLines(gw: GatewayProcess): string[] {
  const f = path.join(gw.dir, 'logs/access.log');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').split('\n').filter((l) => l.length);
}

function start2(extra: Record<string, unknown> = {}): Promise<GatewayProcess> {
  return startGateway({
    config: {
      nginx_config: { worker_processes: 2, http: { enable_access_log: true, access_log: 'logs/access.log', access_log_format: LOG_FORMAT } },
      ...extra,
    },
    timeoutMs: 30_000,
  });
}

async function putRoute(gw: GatewayProcess, id: string, body: unknown): Promise<void> {
  const r = await gw.admin('PUT', `/apisix/admin/routes/${id}`, body);
  assert.ok(r.status === 200 || r.status === 201, `PUT route ${id}: ${r.status} ${r.text}`);
}

const CHAT = { messages: [{ role: 'user', content: 'What is 1+1?' }] };

function aiProxy(mock: MockLlm) {
  return {
    'ai-proxy': {
      provider: 'openai',
      auth: { header: { Authorization: 'Bearer sk' } },
      options: { model: 'gpt-4' },
      override: { endpoint: mock.url + '/v1/chat/completions' },
    },
  };
}

describe('worker_processes: 2', () => {
  let gw: GatewayProcess;
  let mock: MockLlm;
  before(async () => {
    mock = await startMockLlm();
    gw = await start2();
  });
  after(async () => {
    await gw?.stop();
    await mock?.close();
  });

  test('R-WRK-1: two workers with their own pids serve the proxy port', async () => {
    const pids = workerPids(gw);
    assert.equal(pids.length, 2, gw.stderr());
    assert.equal(new Set(pids).size, 2);
    assert.ok(!pids.includes(gw.proc.pid!), 'the workers are not the primary');
  });

  test('R-WRK-2 R-GEN-10: every change is live on every worker when the Admin API has answered', async () => {
    const pids = new Set(workerPids(gw));
    for (let v = 1; v <= 5; v++) {
      await putRoute(gw, 'feed', { uri: `/feed/${v}`, upstream: { type: 'roundrobin', nodes: { [new URL(mock.url).host]: 1 } } });
      // an odd number of each, so round-robin puts each kind on both workers
      for (let i = 0; i < 5; i++) {
        const r = await fresh(`${gw.proxyUrl}/feed/${v}`);
        assert.equal(r.status, 200, `version ${v}, request ${i}: ${r.status} ${r.text}`);
      }
      for (let i = 0; i < 3; i++) {
        const old = await fresh(`${gw.proxyUrl}/feed/${v - 1}`);
        assert.equal(old.status, 404, `version ${v}: the old uri still matches on some worker`);
      }
    }
    await until(() => accessLines(gw).filter((l) => / \/feed\/5 200 /.test(l)).length === 5, 5000, 'access log lines');
    const served = new Set(accessLines(gw).filter((l) => / \/feed\/\d 200 /.test(l)).map((l) => Number(LINE.exec(l)![1])));
    assert.deepEqual([...served].sort(), [...pids].sort(), 'both workers served the new configuration');
  });

  test('R-WRK-2: Prometheus totals are the sum over workers, equal to the requests sent', async () => {
    await putRoute(gw, 'prom', { uri: '/prom', plugins: { prometheus: {} }, upstream: { type: 'roundrobin', nodes: { [new URL(mock.url).host]: 1 } } });
    const N = 30;
    for (let i = 0; i < N; i += 10) await Promise.all(Array.from({ length: 10 }, () => fresh(`${gw.proxyUrl}/prom`)));
    const text = await (await fetch(gw.metricsUrl + '/apisix/prometheus/metrics')).text();
    const m = /apisix_http_status\{code="200",route="prom"[^}]*\} (\d+)/.exec(text);
    assert.ok(m, text);
    assert.equal(Number(m[1]), N);
    const count = /apisix_http_latency_count\{type="request",route="prom"[^}]*\} (\d+)/.exec(text);
    assert.equal(Number(count?.[1]), N, 'histogram counts are summed too');
    assert.equal((text.match(/^apisix_node_info\{/gm) ?? []).length, 1);
    assert.match(text, /^apisix_node_info\{[^}]*\} 1$/m, 'node_info once, not summed');
  });

  test('R-WRK-2 R-ALOG: every access-log line is whole after 400 concurrent requests', async () => {
    await putRoute(gw, 'many', { uri: '/many/*', upstream: { type: 'roundrobin', nodes: { [new URL(mock.url).host]: 1 } } });
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => fresh(`${gw.proxyUrl}/many/${i}`).catch((e: Error) => ({ status: 0, text: e.message }))));
    assert.equal(results.filter((r) => r.status === 200).length, 400);
    const mine = () => accessLines(gw).filter((l) => l.includes(' /many/') || !LINE.test(l));
    await until(() => mine().length >= 400, 10_000, '400 access-log lines');
    const lines = mine();
    assert.equal(lines.length, 400);
    const seen = new Set<string>();
    const pids = new Set<number>();
    for (const l of lines) {
      const m = LINE.exec(l);
      assert.ok(m, `a broken line: ${JSON.stringify(l)}`);
      assert.ok(m[3]!.startsWith('/many/'));
      seen.add(m[3]!);
      pids.add(Number(m[1]));
    }
    assert.equal(seen.size, 400, 'one line per request');
    assert.equal(pids.size, 2, 'both workers wrote lines');
  });

  // the charge is settled in the primary before the answer's last byte
  // leaves (ctx.beforeEnd), so the next request, on either worker, sees it
  test('R-WRK-2 R-QTA-1: a local quota over 20 sequential fresh-connection requests is served exactly as with one worker', async (t) => {
    const one = await startGateway({ config: { nginx_config: { worker_processes: 1 } } });
    t.after(() => one.stop());
    mock.reply({ json: chatCompletion('gpt-4', 'ok', { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }) });
    t.after(() => mock.reset());
    const route = { uri: '/quota', plugins: { ...aiProxy(mock), 'ai-rate-limiting': { limit: 75, time_window: 60 } } };
    const run = async (g: GatewayProcess) => {
      await putRoute(g, 'quota', route);
      const out: string[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await fresh(`${g.proxyUrl}/quota`, { body: CHAT });
        out.push(`${r.status}/${r.headers['x-ai-ratelimit-remaining-ai-proxy-openai'] ?? '-'}`);
      }
      return out;
    };
    const single = await run(one);
    const multi = await run(gw);
    assert.equal(single.filter((s) => s.startsWith('200')).length, 8, single.join(' '));
    assert.deepEqual(multi, single);

    // the same with streamed answers, whose usage comes in the last event
    mock.reply({ sse: sseChat('gpt-4', ['o', 'k'], { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }) });
    const sroute = { ...route, uri: '/squota' };
    const runStream = async (g: GatewayProcess) => {
      await putRoute(g, 'squota', sroute);
      let served = 0;
      for (let i = 0; i < 20; i++) {
        const r = await fresh(`${g.proxyUrl}/squota`, { body: { ...CHAT, stream: true } });
        if (r.status === 200 && r.text.includes('[DONE]')) served++;
      }
      return served;
    };
    assert.equal(await runStream(one), 8);
    assert.equal(await runStream(gw), 8);
  });

  test('R-WRK-2 R-QTA-1: a failed answer releases its reservation before the client sees it, so an immediate retry on the other worker is admitted', async (t) => {
    t.after(() => mock.reset());
    const ok = { json: chatCompletion('gpt-4', 'ok', { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }) };
    for (let round = 0; round < 5; round++) {
      mock.reply(ok);
      await putRoute(gw, `retry${round}`, { uri: `/retry${round}`, plugins: { ...aiProxy(mock), 'ai-rate-limiting': { limit: 75, time_window: 60 } } });
      // 70 of 75 used: any reservation still held now refuses the next request
      for (let i = 0; i < 7; i++) assert.equal((await fresh(`${gw.proxyUrl}/retry${round}`, { body: CHAT })).status, 200);
      mock.replyOnce({ status: 502, json: { error: { message: 'bad gateway' } } });
      assert.equal((await fresh(`${gw.proxyUrl}/retry${round}`, { body: CHAT })).status, 502);
      const retry = await fresh(`${gw.proxyUrl}/retry${round}`, { body: CHAT });
      assert.equal(retry.status, 200, `round ${round}: the retry after a 502 is admitted (${retry.text})`);
    }
  });
});

test('R-PHC-3 R-WRK-2: an instance is probed once per interval, not once per worker; health is the same in every worker', { timeout: 40_000 }, async (t) => {
  const ok = await startMockLlm();
  const bad = await startMockLlm();
  let probeStatus = 200;
  bad.route('/probe', () => ({ status: probeStatus, body: 'probe' }));
  const gw = await start2();
  t.after(async () => {
    await gw.stop();
    await ok.close();
    await bad.close();
  });
  const inst = (name: string, url: string, extra: Record<string, unknown> = {}) => ({
    name, provider: 'openai-compatible', weight: 1, auth: { header: { Authorization: 'Bearer k' } },
    options: { model: 'm' }, override: { endpoint: url + '/v1/chat/completions' }, ...extra,
  });
  await putRoute(gw, 'hc', {
    uri: '/hc',
    plugins: {
      'ai-proxy-multi': {
        instances: [
          inst('ok', ok.url),
          inst('checked', bad.url, { checks: { active: { type: 'http', http_path: '/probe', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } } }),
        ],
      },
    },
  });
  await until(() => bad.count('/probe') >= 4, 15_000, '4 probes');
  const at = bad.requests.filter((r) => r.path === '/probe').map((r) => r.receivedAt);
  for (let i = 1; i < at.length; i++) {
    assert.ok(at[i]! - at[i - 1]! >= 700, `probes ${i - 1} and ${i} only ${at[i]! - at[i - 1]!} ms apart: one checker per worker?`);
  }
  // the instance turns unhealthy: no worker sends it traffic any more
  probeStatus = 500;
  const ctl = async () => (await (await fetch(gw.controlUrl + '/v1/healthcheck')).json()) as any[];
  await until(async () => JSON.stringify(await ctl()).includes('"unhealthy"'), 10_000, 'unhealthy in /v1/healthcheck');
  const before = bad.count('/v1/chat/completions');
  for (let i = 0; i < 10; i++) assert.equal((await fresh(`${gw.proxyUrl}/hc`, { body: CHAT })).status, 200);
  assert.equal(bad.count('/v1/chat/completions'), before, 'a worker still picked the unhealthy instance');
  await until(() => accessLines(gw).filter((l) => / \/hc 200 /.test(l)).length >= 10, 5000, 'access log lines');
  const pids = new Set(accessLines(gw).filter((l) => / \/hc 200 /.test(l)).map((l) => Number(LINE.exec(l)![1])));
  assert.equal(pids.size, 2, 'both workers answered');
});

test('R-WRK-2: a killed worker is replaced within a second, with the cause in the log', { timeout: 40_000 }, async (t) => {
  const mock = await startMockLlm();
  const gw = await start2();
  t.after(async () => {
    await gw.stop();
    await mock.close();
  });
  await putRoute(gw, 'k', { uri: '/k', upstream: { type: 'roundrobin', nodes: { [new URL(mock.url).host]: 1 } } });
  const [victim, survivor] = workerPids(gw);
  const t0 = Date.now();
  process.kill(victim!, 'SIGKILL');
  await until(() => workerPids(gw).length === 3, 10_000, 'a replacement worker');
  const took = Date.now() - t0;
  assert.ok(took < 1000, `replaced after ${took} ms`);
  assert.match(gw.stderr(), new RegExp(`\\(pid ${victim}\\) died: killed by signal SIGKILL; starting a replacement`));
  const replacement = workerPids(gw)[2]!;
  // the replacement has the configuration: fresh connections reach both live workers
  for (let i = 0; i < 6; i++) assert.equal((await fresh(`${gw.proxyUrl}/k`)).status, 200);
  await until(() => accessLines(gw).length >= 6, 5000, 'access log lines');
  const pids = new Set(accessLines(gw).map((l) => Number(LINE.exec(l)![1])));
  assert.deepEqual([...pids].sort(), [survivor!, replacement].sort());
});

test('R-WRK-2: a worker that cannot bind its port stops the start-up with a clear message', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  await assert.rejects(
    startGateway({ config: { apisix: { node_listen: [{ ip: '127.0.0.1', port }] }, nginx_config: { worker_processes: 2 } }, timeoutMs: 30_000 }),
    (err: Error) => {
      assert.match(err.message, new RegExp(`failed to start: proxy cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
      return true;
    },
  );
});

test('R-WRK-2 R-GEN-18: SIGTERM drains streams in flight on every worker, then exits 0', { timeout: 40_000 }, async (t) => {
  const mock = await startMockLlm();
  t.after(() => mock.close());
  mock.reply({ sse: sseChat('gpt-4', ['a', 'b', 'c'], undefined, 150) });
  const gw = await start2();
  t.after(() => gw.kill());
  await putRoute(gw, 's', { uri: '/s', plugins: aiProxy(mock) });
  const streams = Array.from({ length: 4 }, () => fresh(`${gw.proxyUrl}/s`, { body: { ...CHAT, stream: true } }));
  await mock.waitFor(4, 10_000);
  const code = await gw.stop();
  const done = await Promise.all(streams);
  for (const r of done) {
    assert.equal(r.status, 200);
    assert.match(r.text, /data: \[DONE\]/, 'the stream ran to its end');
  }
  assert.equal(code, 0, gw.stderr());
  const pids = new Set(accessLines(gw).filter((l) => / \/s 200 /.test(l)).map((l) => Number(LINE.exec(l)![1])));
  assert.equal(pids.size, 2, 'streams were in flight on both workers, and each logged its line');
});

test('R-WRK-2: the admin key is generated once, by the primary, and the Admin API answers with it', async (t) => {
  const gw = await startGateway({
    config: {
      nginx_config: { worker_processes: 2 },
      deployment: { admin: { admin_key: [{ name: 'admin', key: '', role: 'admin' }] } },
    },
    timeoutMs: 30_000,
  });
  t.after(() => gw.stop());
  const lines = gw.stdout().match(/^generated admin key for "admin": (\S+)$/gm) ?? [];
  assert.equal(lines.length, 1, gw.stdout());
  const key = / (\S+)$/.exec(lines[0]!)![1]!;
  const r = await fetch(gw.adminUrl + '/apisix/admin/routes', { headers: { 'X-API-KEY': key } });
  assert.equal(r.status, 200);
});
