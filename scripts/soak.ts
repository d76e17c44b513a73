// npm run soak -- [--minutes M] [--warmup S] [--rate R] [--cpu F] [--streams N]
//                  [--write-every S] [--flap-every S] [--out FILE]
//
// Issue 16, item 4: the real CLI under mixed traffic for a long time, while
// its memory, event loop, handles and timers are sampled.
//   - the route of a real deployment: key-auth consumer, ai-proxy-multi with
//     two instances, fallback on 5xx and active health checks, ai-rate-limiting,
//     prometheus, the access log with the LLM variables;
//   - non-streamed requests open loop at a fixed rate. Without --rate the rate
//     is tuned during the first two thirds of the warm-up until the gateway
//     uses --cpu (0.7) of one core, then held for the rest of the run;
//   - --streams (200) concurrent streams of 24 events, 100 ms apart;
//   - an Admin API write every second (routes and consumers created, changed
//     and deleted, and the live consumer rewritten);
//   - a health flap every 10 s: the second instance fails its probe and
//     answers 500 for 5 s. That is the only error injected; fallback hides it
//     from clients, so a client that sees anything but a whole, right answer
//     is a failure.
// Properties (judged after the warm-up): no failed request, stream or write,
// and no [error] line from the gateway beyond the injected flap; when at
// least 5 minutes were sampled after the warm-up, RSS within ±10 % of its
// median over that time, and no growth in handles, timers or open files.
// The gateway runs pinned to core 1 and this process (load, mocks) to core 0
// when taskset exists. test/reliability/soak.test.ts runs a short one.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';
import { machineCpuTicks, processTree, treeStats } from '../test/helpers/proc.js';
import { chatCompletion, sseChat, startMockLlm, type MockLlm, type MockRequest, type MockResponse } from '../test/helpers/mock-llm.js';

export interface SoakOptions {
  minutes: number;
  warmupSeconds: number;
  /** fixed non-streamed rate (req/s); undefined: tuned to `cpu` during the warm-up */
  rate?: number;
  /** share of one core the gateway should use when the rate is tuned */
  cpu: number;
  streams: number;
  /** 0: no Admin API writes */
  writeEveryMs: number;
  /** 0: no health flaps */
  flapEveryMs: number;
  flapDownMs: number;
  sampleEveryMs: number;
  /** pin the gateway to core 1 and this process to core 0 (when taskset exists) */
  pin: boolean;
  /** called with one line per sample */
  progress?: (line: string) => unknown;
}

export interface Sample {
  /** seconds since the load started */
  t: number;
  rssMb: number;
  heapUsedMb: number;
  /** V8's young generation (semi-spaces) and old generation, as reserved: a step in RSS shows in one of them */
  heapTotalMb: number;
  externalMb: number;
  newSpaceMb: number;
  oldSpaceMb: number;
  /** share of one core the gateway used since the previous sample */
  cpu: number;
  /** non-streamed requests answered per second since the previous sample */
  reqPerS: number;
  /** p99 of the non-streamed request latency since the previous sample, ms */
  p99Ms: number;
  /** longest event-loop delay of the gateway since the previous scrape, ms */
  loopMaxMs: number;
  /** share of the machine's CPU time stolen by the hypervisor since the previous sample */
  steal: number;
  /** p99 event-loop delay of this process (load generator and mocks) since the previous sample, ms */
  loadLoopP99Ms: number;
  /** p99 event-loop delay of the gateway since the previous scrape beyond prom-client's 10 ms sampling period, ms */
  loopP99Ms: number;
  handles: number;
  timers: number;
  fds: number;
}

export interface SoakResult {
  options: Omit<SoakOptions, 'progress'>;
  /** the non-streamed rate held after the warm-up */
  rate: number;
  requests: number;
  streams: number;
  writes: number;
  /** health flaps injected, and the ones the gateway's checker reported (unhealthy, then healthy again) */
  flaps: number;
  flapsSeen: number;
  /** requests the open loop could not send because 1,024 were already waiting (after the warm-up) */
  shed: number;
  /** the same during the warm-up */
  shedInWarmup: number;
  /** mean share of one core the gateway used after the warm-up */
  cpu: number;
  samples: Sample[];
  /** RSS after the warm-up: median, min, max (MB) */
  rss: { median: number; min: number; max: number };
  /** handles, timers and open files: median of the first and of the last minute after the warm-up */
  growth: { handles: [number, number]; timers: [number, number]; fds: [number, number] };
  /** whether the memory and handle properties were judged (≥ 5 minutes after the warm-up) */
  judged: boolean;
  failures: string[];
  ms: number;
}

const P = '/v1/chat/completions';
const KEY = 'soak-consumer-key';
const PROBE = '/health';
const STREAM_EVENTS = 24;
const STREAM_GAP_MS = 100;
const MAX_WAITING = 1024;
const JUDGE_AFTER_MS = 5 * 60_000;
/** prom-client's monitorEventLoopDelay resolution: its percentiles include this period */
const LOOP_SAMPLING_MS = 10;
const LLM_FORMAT = '$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$apisix_request_id" "$request_type" "$llm_time_to_first_token" "$llm_model" "$request_llm_model" "$llm_prompt_tokens" "$llm_completion_tokens"';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return os.availableParallelism() >= 2;
  } catch {
    return false;
  }
}

/** share of all CPU time stolen by the hypervisor since the previous call (/proc/stat) */
let lastCpu: { steal: number; total: number } | undefined;
function stealShare(): number {
  const f = machineCpuTicks();
  const now = { steal: f[7] ?? 0, total: f.reduce((a, b) => a + b, 0) };
  const prev = lastCpu;
  lastCpu = now;
  return prev && now.total > prev.total ? (now.steal - prev.steal) / (now.total - prev.total) : 0;
}

/** one value of a Prometheus text exposition (first matching line) */
function metric(text: string, name: string, labels = ''): number {
  const re = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} ([0-9.eE+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

/** the two mock instances: b can be made to fail its probe and its requests */
function startMocks(mocks: MockLlm[], down: () => boolean): void {
  for (const [i, mock] of mocks.entries()) {
    const name = i === 0 ? 'mock-a' : 'mock-b';
    const failing = () => i === 1 && down();
    mock.route(PROBE, (): MockResponse => {
      mock.requests.length = 0;
      return failing() ? { status: 503, json: { error: 'injected' } } : { json: { ok: true } };
    });
    mock.reply((r: MockRequest): MockResponse => {
      mock.requests.length = 0; // a long run keeps no history
      if (failing()) return { status: 500, json: { error: { message: 'injected flap', type: 'server_error' } } };
      if (r.body?.stream === true) {
        const pieces = Array.from({ length: STREAM_EVENTS - 4 }, (_, k) => `${name}:${k} `);
        return { sse: sseChat('gpt-4o-mini', pieces, undefined, STREAM_GAP_MS) };
      }
      return { json: chatCompletion('gpt-4o-mini', `hello from ${name}`) };
    });
  }
}

async function configure(gw: GatewayProcess, mocks: MockLlm[]): Promise<void> {
  const inst = (name: string, mock: MockLlm) => ({
    name, provider: 'openai-compatible', weight: 1,
    auth: { header: { Authorization: 'Bearer sk-soak' } },
    options: { model: 'gpt-4o-mini' },
    override: { endpoint: `${mock.url}${P}` },
    checks: { active: { type: 'http', http_path: PROBE, timeout: 1, healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 2 } } },
  });
  const c = await gw.admin('PUT', '/apisix/admin/consumers', { username: 'soak', plugins: { 'key-auth': { key: KEY } } });
  if (c.status >= 300) throw new Error(`consumer: ${c.status} ${c.text}`);
  const r = await gw.admin('PUT', '/apisix/admin/routes/soak', {
    uri: P, methods: ['POST'],
    plugins: {
      'key-auth': {},
      'ai-proxy-multi': { fallback_strategy: ['http_429', 'http_5xx'], instances: [inst('mock-a', mocks[0]!), inst('mock-b', mocks[1]!)] },
      'ai-rate-limiting': { limit: 1e12, time_window: 60, limit_strategy: 'total_tokens' },
      prometheus: {},
    },
  });
  if (r.status >= 300) throw new Error(`route: ${r.status} ${r.text}`);
}

class Failures {
  readonly byKind = new Map<string, { n: number; first: string }>();
  add(kind: string, detail: string): void {
    const e = this.byKind.get(kind);
    if (e) e.n++;
    else this.byKind.set(kind, { n: 1, first: detail.slice(0, 300) });
  }
  list(): string[] {
    return [...this.byKind].map(([k, e]) => `${k}: ${e.n} (first: ${e.first})`);
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const t0 = Date.now();
  const pinned = opts.pin && hasTaskset();
  if (pinned) execFileSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const failures = new Failures();
  let down = false;
  const mocks = [await startMockLlm(), await startMockLlm()];
  startMocks(mocks, () => down);
  const gw = await startGateway({
    config: { nginx_config: { http: { enable_access_log: true, access_log: 'logs/access.log', access_log_format: LLM_FORMAT } } },
  });
  // interrupted (Ctrl-C, kill): the gateway must not outlive the run
  const onSignal = () => { gw.proc.kill('SIGKILL'); process.exit(130); };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const pools: Pool[] = [];
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  try {
    if (pinned) for (const p of processTree(gw.proc.pid!)) execFileSync('taskset', ['-a', '-pc', '1', String(p)], { stdio: 'ignore' });
    await configure(gw, mocks);
    const headers = { 'content-type': 'application/json', apikey: KEY };
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] });
    const streamBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count.' }], stream: true });
    const reqPool = new Pool(gw.proxyUrl, { connections: 64 });
    const streamPool = new Pool(gw.proxyUrl, { connections: opts.streams });
    pools.push(reqPool, streamPool);

    const start = Date.now();
    const warmupEnd = start + opts.warmupSeconds * 1000;
    const end = start + opts.minutes * 60_000;
    let judging = false; // after the warm-up the samples are kept and judged
    const fail = (kind: string, detail: string) => failures.add(kind, detail);

    // non-streamed requests, open loop
    let rate = opts.rate ?? 200;
    let sent = 0;
    let answered = 0;
    let waiting = 0;
    let shed = 0;
    let lat: number[] = [];
    const one = async () => {
      const s = performance.now();
      waiting++;
      try {
        const r = await reqPool.request({ path: P, method: 'POST', headers, body });
        const text = await r.body.text();
        if (r.statusCode !== 200) fail('request status', `${r.statusCode} ${text}`);
        else {
          const content = JSON.parse(text)?.choices?.[0]?.message?.content;
          if (content !== 'hello from mock-a' && content !== 'hello from mock-b') fail('request body', text);
        }
      } catch (err) {
        if (!stopping) fail('request error', String(err));
      } finally {
        waiting--;
        answered++;
        lat.push(performance.now() - s);
      }
    };
    let due = 0;
    let last = performance.now();
    timers.push(setInterval(() => {
      const now = performance.now();
      due += ((now - last) / 1000) * rate;
      last = now;
      while (due >= 1) {
        due--;
        if (waiting >= MAX_WAITING) { shed++; continue; }
        sent++;
        void one();
      }
    }, 5));

    // streams, closed loop each
    let streamsDone = 0;
    const streamLoop = async () => {
      while (!stopping && Date.now() < end) {
        try {
          const r = await streamPool.request({ path: P, method: 'POST', headers, body: streamBody, bodyTimeout: 30_000 });
          const text = await r.body.text();
          if (stopping) return;
          if (r.statusCode !== 200) { fail('stream status', `${r.statusCode} ${text}`); continue; }
          const from = /mock-[ab]/.exec(text)?.[0];
          const whole = from !== undefined && text.endsWith('data: [DONE]\n\n') && text.includes(`${from}:${STREAM_EVENTS - 5} `);
          if (!whole) fail('stream body', text.slice(-300));
          streamsDone++;
        } catch (err) {
          if (!stopping) fail('stream error', String(err));
        }
      }
    };
    const streamers = Array.from({ length: opts.streams }, (_, i) => sleep((i * STREAM_GAP_MS * STREAM_EVENTS) / opts.streams).then(streamLoop));

    // an Admin API write every writeEveryMs
    let writes = 0;
    const live = new Set<number>();
    const write = async (n: number) => {
      const k = n % 40;
      const kind = n % 4;
      let res: { status: number; text: string; body: any };
      let expect: number[];
      if (kind === 0) {
        res = await gw.admin('PUT', `/apisix/admin/routes/churn-${k}`, { uri: `/churn/${k}`, desc: `write ${n}`, plugins: { 'ai-proxy-multi': { instances: [{ name: 'a', provider: 'openai-compatible', weight: 1, auth: { header: { Authorization: 'Bearer x' } }, override: { endpoint: `${mocks[0]!.url}${P}` } }] } } });
        expect = [200, 201];
        live.add(k);
      } else if (kind === 1) {
        res = await gw.admin('PUT', '/apisix/admin/consumers', { username: `churn${k}`, plugins: { 'key-auth': { key: `churn-key-${k}` } } });
        expect = [200, 201];
      } else if (kind === 2) {
        const victim = [...live][0];
        if (victim === undefined) return;
        live.delete(victim);
        res = await gw.admin('DELETE', `/apisix/admin/routes/churn-${victim}`);
        expect = [200];
      } else {
        res = await gw.admin('PUT', '/apisix/admin/consumers', { username: 'soak', desc: `write ${n}`, plugins: { 'key-auth': { key: KEY } } });
        expect = [200, 201];
        const back = await gw.admin('GET', '/apisix/admin/consumers/soak');
        if (back.body?.value?.desc !== `write ${n}`) fail('write read-back', back.text);
      }
      if (!expect.includes(res.status)) fail('write status', `${res.status} ${res.text}`);
      writes++;
    };
    let writeN = 0;
    let writing = false;
    if (opts.writeEveryMs > 0) timers.push(setInterval(() => {
      if (writing) return; // one at a time; a slow one is seen in the figures, not piled up
      writing = true;
      write(writeN++).catch((err) => fail('write error', String(err))).finally(() => (writing = false));
    }, opts.writeEveryMs));

    // health flaps, and what the checker reports about instance 1
    let flaps = 0;
    let flapsSeen = 0;
    let seenDown = false;
    if (opts.flapEveryMs > 0) timers.push(setInterval(() => {
      flaps++;
      down = true;
      setTimeout(() => (down = false), opts.flapDownMs);
    }, opts.flapEveryMs));
    timers.push(setInterval(() => {
      fetch(`${gw.controlUrl}/v1/healthcheck`).then((r) => r.json()).then((list: any) => {
        const b = (list as any[]).find((c) => String(c.name).endsWith('instances[1]'));
        const status = b?.nodes?.[0]?.status;
        if (status === 'unhealthy') seenDown = true;
        else if (status === 'healthy' && seenDown) { seenDown = false; flapsSeen++; }
      }).catch((err) => { if (!stopping) fail('control API', String(err)); });
    }, 250));

    // samples
    const samples: Sample[] = [];
    const ownLoop = monitorEventLoopDelay({ resolution: 1 });
    ownLoop.enable();
    let prev = { at: performance.now(), cpuS: treeStats(gw.proc.pid!).cpuS, answered: 0 };
    const sample = async (): Promise<Sample> => {
      const text = await (await fetch(`${gw.metricsUrl}/apisix/prometheus/metrics`)).text();
      const st = treeStats(gw.proc.pid!);
      const now = performance.now();
      const dt = (now - prev.at) / 1000;
      const sorted = lat.sort((a, b) => a - b);
      const s: Sample = {
        t: round((Date.now() - start) / 1000, 0),
        rssMb: round(st.rssMb),
        heapUsedMb: round(metric(text, 'apisix_nodejs_heap_size_used_bytes') / 2 ** 20),
        heapTotalMb: round(metric(text, 'apisix_nodejs_heap_size_total_bytes') / 2 ** 20),
        externalMb: round(metric(text, 'apisix_nodejs_external_memory_bytes') / 2 ** 20),
        newSpaceMb: round(metric(text, 'apisix_nodejs_heap_space_size_total_bytes', 'space="new"') / 2 ** 20),
        oldSpaceMb: round(metric(text, 'apisix_nodejs_heap_space_size_total_bytes', 'space="old"') / 2 ** 20),
        cpu: round((st.cpuS - prev.cpuS) / dt, 2),
        reqPerS: round((answered - prev.answered) / dt, 0),
        p99Ms: round(sorted[Math.floor(sorted.length * 0.99)] ?? 0, 2),
        loopP99Ms: round(Math.max(0, metric(text, 'apisix_nodejs_eventloop_lag_p99_seconds') * 1000 - LOOP_SAMPLING_MS), 2),
        loopMaxMs: round(Math.max(0, metric(text, 'apisix_nodejs_eventloop_lag_max_seconds') * 1000 - LOOP_SAMPLING_MS), 1),
        steal: round(stealShare(), 3),
        loadLoopP99Ms: round(Math.max(0, ownLoop.percentile(99) / 1e6 - 1), 2),
        handles: metric(text, 'apisix_nodejs_active_handles_total'),
        timers: metric(text, 'apisix_nodejs_active_resources', 'type="Timeout"'),
        fds: st.fds,
      };
      lat = [];
      ownLoop.reset();
      prev = { at: now, cpuS: st.cpuS, answered };
      return s;
    };
    let shedAtWarmupEnd: number | undefined;
    const tuneUntil = opts.rate === undefined ? start + (opts.warmupSeconds * 1000 * 2) / 3 : 0;
    while (Date.now() < end) {
      await sleep(Math.min(opts.sampleEveryMs, Math.max(0, end - Date.now())));
      const s = await sample();
      // damped (square root of the ratio): one 5 s sample of a shared machine is noisy
      if (Date.now() < tuneUntil && s.cpu > 0.02) rate = Math.max(10, Math.round(rate * Math.sqrt(Math.min(4, Math.max(0.25, opts.cpu / s.cpu)))));
      if (!judging && Date.now() >= warmupEnd) judging = true;
      else if (judging) samples.push(s);
      if (judging && shedAtWarmupEnd === undefined) shedAtWarmupEnd = shed;
      opts.progress?.(`  t=${s.t}s${judging ? '' : ' (warm-up)'} rate=${rate} answered=${s.reqPerS}/s cpu=${s.cpu} rss=${s.rssMb}MB heap=${s.heapUsedMb}/${s.heapTotalMb}MB external=${s.externalMb}MB new=${s.newSpaceMb}MB old=${s.oldSpaceMb}MB p99=${s.p99Ms}ms loop-p99=${s.loopP99Ms}ms loop-max=${s.loopMaxMs}ms steal=${s.steal} load-loop-p99=${s.loadLoopP99Ms}ms handles=${s.handles} timers=${s.timers} fds=${s.fds} shed=${shed}`);
    }
    stopping = true;
    ownLoop.disable();
    for (const t of timers) clearInterval(t);
    await Promise.all(streamers);
    while (waiting > 0) await sleep(20);

    // the gateway's own error lines: only the injected flap may appear
    for (const line of gw.stderr().split('\n')) {
      if (!/\[(error|crit|alert|emerg)\]/.test(line)) continue;
      if (/mock-b|instances\[1\]|injected/.test(line)) continue;
      failures.add('gateway error log', line);
    }

    const judged = samples.length > 0 && samples[samples.length - 1]!.t - samples[0]!.t >= JUDGE_AFTER_MS / 1000;
    const rssList = samples.map((s) => s.rssMb);
    const rss = { median: round(median(rssList)), min: Math.min(...rssList), max: Math.max(...rssList) };
    const perMinute = Math.max(1, Math.round(60_000 / opts.sampleEveryMs));
    const firstMin = samples.slice(0, perMinute);
    const lastMin = samples.slice(-perMinute);
    const pair = (f: (s: Sample) => number): [number, number] => [median(firstMin.map(f)), median(lastMin.map(f))];
    const growth = { handles: pair((s) => s.handles), timers: pair((s) => s.timers), fds: pair((s) => s.fds) };
    if (judged) {
      if (rss.min < rss.median * 0.9 || rss.max > rss.median * 1.1) failures.add('RSS not flat', `min ${rss.min} / median ${rss.median} / max ${rss.max} MB`);
      for (const [name, [a, b]] of Object.entries(growth)) {
        if (b > a * 1.1 + 5) failures.add(`${name} grew`, `median of the first minute ${a}, of the last ${b}`);
      }
    }
    if (samples.length === 0) failures.add('no samples', 'the run ended within its warm-up');
    if (flaps > 1 && flapsSeen < flaps - 1) failures.add('flaps not seen', `${flaps} injected, the checker reported ${flapsSeen} down and up again`);
    const { progress: _p, ...options } = opts;
    return {
      options, rate, requests: sent, streams: streamsDone, writes, flaps, flapsSeen,
      shed: shed - (shedAtWarmupEnd ?? shed), shedInWarmup: shedAtWarmupEnd ?? shed,
      cpu: round(samples.reduce((a, s) => a + s.cpu, 0) / Math.max(1, samples.length), 2),
      samples, rss, growth, judged, failures: failures.list(), ms: Date.now() - t0,
    };
  } finally {
    stopping = true;
    for (const t of timers) clearInterval(t);
    await Promise.allSettled(pools.map((p) => p.destroy()));
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await gw.stop().catch(() => gw.kill());
    await Promise.allSettled(mocks.map((m) => m.close()));
  }
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const num = (name: string, d: number | undefined, zeroOk = false) => {
    const v = arg(args, name);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) {
      process.stderr.write(`soak: --${name} must be a ${zeroOk ? 'non-negative' : 'positive'} number, got "${v}"\n`);
      process.exit(2);
    }
    return n;
  };
  const minutes = num('minutes', 30)!;
  const opts: SoakOptions = {
    minutes,
    warmupSeconds: num('warmup', Math.min(180, Math.max(20, minutes * 6)))!,
    rate: num('rate', undefined),
    cpu: num('cpu', 0.7)!,
    streams: num('streams', 200)!,
    writeEveryMs: (num('write-every', 1, true)!) * 1000,
    flapEveryMs: (num('flap-every', 10, true)!) * 1000,
    flapDownMs: 0,
    sampleEveryMs: 5_000,
    pin: true,
    progress: (l) => process.stdout.write(`${l}\n`),
  };
  opts.flapDownMs = opts.flapEveryMs / 2; // down half of each period
  const out = arg(args, 'out') ?? 'soak-result.json';
  process.stdout.write(`soak: ${minutes} min, warm-up ${opts.warmupSeconds} s, ${opts.rate ? `${opts.rate} req/s` : `rate tuned to ${opts.cpu} of a core`}, ${opts.streams} streams, ${opts.writeEveryMs ? `a write every ${opts.writeEveryMs / 1000} s` : 'no writes'}, ${opts.flapEveryMs ? `a flap every ${opts.flapEveryMs / 1000} s` : 'no flaps'}\n`);
  const r = await runSoak(opts);
  writeFileSync(out, JSON.stringify(r, null, 1));
  const line = (k: string, v: string) => process.stdout.write(`${k.padEnd(34)} ${v}\n`);
  line('rate held after warm-up', `${r.rate} req/s (gateway at ${r.cpu} of a core)`);
  line('requests / streams / writes', `${r.requests} / ${r.streams} / ${r.writes}`);
  line('flaps injected / seen by the checker', `${r.flaps} / ${r.flapsSeen}`);
  line('shed by the load generator', `${r.shed} after the warm-up (${r.shedInWarmup} during it)`);
  line('RSS after warm-up min/median/max', `${r.rss.min} / ${r.rss.median} / ${r.rss.max} MB`);
  line('handles first/last minute', r.growth.handles.join(' → '));
  line('timers first/last minute', r.growth.timers.join(' → '));
  line('open files first/last minute', r.growth.fds.join(' → '));
  line('event-loop delay p99, median/max', `${median(r.samples.map((s) => s.loopP99Ms))} / ${Math.max(...r.samples.map((s) => s.loopP99Ms))} ms`);
  line('event-loop delay max, median/max', `${median(r.samples.map((s) => s.loopMaxMs))} / ${Math.max(...r.samples.map((s) => s.loopMaxMs))} ms`);
  line('load generator loop p99, median/max', `${median(r.samples.map((s) => s.loadLoopP99Ms))} / ${Math.max(...r.samples.map((s) => s.loadLoopP99Ms))} ms`);
  line('CPU stolen by the hypervisor, max', `${Math.max(...r.samples.map((s) => s.steal))}`);
  line('request p99, median/max of samples', `${median(r.samples.map((s) => s.p99Ms))} / ${Math.max(...r.samples.map((s) => s.p99Ms))} ms`);
  line('memory and handles judged', r.judged ? 'yes' : 'no (under 5 minutes after the warm-up)');
  line('samples written to', out);
  if (r.failures.length) {
    process.stdout.write(`soak: FAILED\n${r.failures.map((f) => `  ${f}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stdout.write(`soak: passed in ${Math.round(r.ms / 1000)} s\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
