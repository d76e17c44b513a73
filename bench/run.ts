// `npm run bench`: switchyard beside the Node floor on this machine, with
// ratios. The figures the project is judged by come from ../shared/bench
// (C mock upstream, wrk and an open-loop C generator, pinned cores); this is
// the same method in a smaller, self-contained form for every checkout:
//   - the gateway and the floor (bench/baseline-proxy.ts: node:http + undici,
//     body parsed and re-serialised, nothing else) each run pinned to core 1
//     (`taskset`, when present on a machine with 2 or more CPUs); the mock
//     upstream, the load generators and this process run on core 0. Only the
//     target being measured runs: the other is frozen with SIGSTOP;
//   - saturation: wrk (Debian's package) when installed, else a closed loop
//     in this process; CPU per request from /proc of the target's processes;
//   - latency: an open loop at fixed rates, measured from when each request
//     was due (no coordinated omission), added = target − direct;
//   - streams: added time to the first byte.
// Environment: BENCH_SECONDS (6), BENCH_RATES (1000,2000), BENCH_CHAIN
// (bare | full: key-auth consumer, two instances with fallback,
// ai-rate-limiting, prometheus, access log with the LLM variables),
// BENCH_WORKERS (nginx_config.worker_processes; unset: 1, the single-process path),
// BENCH_PAIRED (rounds of the paired comparison, 5; 0 skips it) and
// BENCH_PAIRED_RATE (req/s to each target in it, 1000).
//
// The paired comparison: on a shared VM the machine's speed drifts by 2x
// within minutes, so a target measured after the other can come out ahead
// or behind by more than any change being judged. There both targets run
// unfrozen on core 1 and get the same open-loop rate at the same time; each
// round's ratio of CPU per request (switchyard / floor) is taken over one
// window in which both saw the same machine. Its median and range are
// printed; a change is real when its range clears the one before it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';
import { machineCpuTicks, processTree, treeStats } from '../test/helpers/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const SECONDS = env('BENCH_SECONDS', 6);
const RATES = (process.env.BENCH_RATES ?? '1000,2000').split(',').map(Number).filter((n) => n > 0);
const RATE_SECONDS = env('BENCH_RATE_SECONDS', 3);
const STREAMS = env('BENCH_STREAMS', 200);
const CONNS = 64;
const CHAIN = process.env.BENCH_CHAIN === 'full' ? 'full' : 'bare';
const WORKERS = process.env.BENCH_WORKERS;
const PAIRED = env('BENCH_PAIRED', 5);
const PAIRED_RATE = env('BENCH_PAIRED_RATE', 1000);

const BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] });
const STREAM_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'What is 1+1?' }], stream: true });
const CONSUMER_KEY = 'bench-consumer-key';
const P = '/v1/chat/completions';

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const CPUS = os.availableParallelism();
const PIN = has('taskset') && CPUS >= 2;
const WRK = has('wrk');

function pin(pid: number, core: number | string): void {
  if (!PIN) return;
  for (const p of processTree(pid)) execFileSync('taskset', ['-a', '-pc', String(core), String(p)], { stdio: 'ignore' });
}

/** CPU seconds (user + system) of a process tree, from /proc */
const cpuSeconds = (pid: number): number => treeStats(pid).cpuS;
const rssMb = (pid: number): number => Math.round(treeStats(pid).rssMb * 10) / 10;

async function startChild(script: string, args: string[] = []): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start`)), 10_000);
    proc.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /listening on ([\d.]+:\d+)/.exec(out);
      if (m) { clearTimeout(t); resolve(`http://${m[1]}`); }
    });
  });
  return { url, proc };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Target {
  name: string;
  url: string;
  pid?: number;
  headers: Record<string, string>;
}

function freeze(t: Target, on: boolean): void {
  if (t.pid === undefined) return;
  for (const p of processTree(t.pid)) {
    try { process.kill(p, on ? 'SIGSTOP' : 'SIGCONT'); } catch { /* gone */ }
  }
}

async function closedLoop(t: Target, seconds: number): Promise<{ rps: number; count: number }> {
  const pool = new Pool(t.url, { connections: CONNS, pipelining: 1 });
  let count = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const r = await pool.request({ path: P, method: 'POST', headers: { 'content-type': 'application/json', ...t.headers }, body: BODY });
      await r.body.dump();
      if (r.statusCode === 200) count++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNS }, worker));
  await pool.close();
  return { rps: count / ((performance.now() - t0) / 1000), count };
}

function wrk(t: Target, seconds: number): { rps: number; count: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-'));
  const lua = path.join(dir, 'chat.lua');
  const hdr = Object.entries({ 'Content-Type': 'application/json', ...t.headers }).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join('\n');
  writeFileSync(lua, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(BODY)}\n${hdr}\n` +
    'function done(s, l, r) io.write(string.format("WRKRESULT %d %d %f\\n", s.requests, s.errors.status + s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout, s.duration / 1e6)) end\n');
  const out = execFileSync('wrk', ['-t1', `-c${CONNS}`, `-d${seconds}s`, '-s', lua, t.url + P], { encoding: 'utf8' });
  const m = /WRKRESULT (\d+) (\d+) ([\d.]+)/.exec(out);
  if (!m) throw new Error(`wrk printed no result:\n${out}`);
  const ok = Number(m[1]) - Number(m[2]);
  return { rps: ok / Number(m[3]), count: ok };
}

/** busy CPU seconds of the whole machine, all cores (/proc/stat; 0 where it does not exist) */
function machineBusySeconds(): number {
  try {
    const f = machineCpuTicks();
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100; // clock ticks (USER_HZ 100, as cpuSeconds)
  } catch {
    return 0;
  }
}

interface Saturation {
  rps: number;
  cpuUsPerReq: number;
  /** during the measured run: cores busy in all, and the target's (gateway or floor) share, in cores */
  coresBusy: number;
  targetCores: number;
}

async function saturate(t: Target, seconds: number): Promise<Saturation> {
  const run = (s: number) => (WRK ? Promise.resolve(wrk(t, s)) : closedLoop(t, s));
  await run(2); // warm-up (JIT, pools)
  const c0 = t.pid !== undefined ? cpuSeconds(t.pid) : 0;
  const m0 = machineBusySeconds();
  const w0 = performance.now();
  const r = await run(seconds);
  const wall = (performance.now() - w0) / 1000;
  const used = t.pid !== undefined ? cpuSeconds(t.pid) - c0 : NaN;
  return { rps: r.rps, cpuUsPerReq: (used / r.count) * 1e6, coresBusy: (machineBusySeconds() - m0) / wall, targetCores: used / wall };
}

/** open loop at `rate` req/s: latency from each request's due time, ms */
async function fixedRate(t: Target, rate: number, seconds: number): Promise<number[]> {
  const pool = new Pool(t.url, { connections: CONNS, pipelining: 1 });
  const lat: number[] = [];
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  let sent = 0;
  const one = async (due: number) => {
    try {
      const r = await pool.request({ path: P, method: 'POST', headers: { 'content-type': 'application/json', ...t.headers }, body: BODY });
      await r.body.dump();
      if (r.statusCode === 200) lat.push(performance.now() - due);
    } catch { /* counted as missing */ }
  };
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) / 1000) * rate) + 1);
    while (sent < due) {
      inflight.push(one(t0 + (sent * 1000) / rate));
      sent++;
    }
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(inflight);
  await pool.close();
  return lat.sort((a, b) => a - b);
}

interface PairedRound { floorUs: number; switchyardUs: number; ratio: number }

/** the paired comparison (see the top of this file): CPU per request of both targets over the same windows */
async function pairedRounds(fl: Target, sy: Target, rounds: number, rate: number, seconds: number): Promise<PairedRound[]> {
  if (fl.pid === undefined || sy.pid === undefined) return [];
  const both = async (s: number) => {
    const c0 = [cpuSeconds(fl.pid!), cpuSeconds(sy.pid!)];
    const [a, b] = await Promise.all([fixedRate(fl, rate, s), fixedRate(sy, rate, s)]);
    const us = (i: number, pid: number, n: number) => ((cpuSeconds(pid) - c0[i]!) / n) * 1e6;
    return { floorUs: us(0, fl.pid!, a.length), switchyardUs: us(1, sy.pid!, b.length) };
  };
  const out: PairedRound[] = [];
  if (rounds > 0) await both(1); // warm-up at this rate
  for (let i = 0; i < rounds; i++) {
    const r = await both(seconds);
    out.push({ ...r, ratio: r.switchyardUs / r.floorUs });
  }
  return out;
}

async function ttfb(t: Target, n: number): Promise<number[]> {
  const pool = new Pool(t.url, { connections: 4 });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await pool.request({ path: P, method: 'POST', headers: { 'content-type': 'application/json', ...t.headers }, body: STREAM_BODY });
    let first = true;
    for await (const _c of r.body) {
      if (first) { out.push(performance.now() - s); first = false; }
    }
  }
  await pool.close();
  return out.sort((a, b) => a - b);
}

async function configure(gw: GatewayProcess, mockUrl: string): Promise<Record<string, string>> {
  const inst = (name: string) => ({
    name, provider: 'openai-compatible', weight: 1,
    auth: { header: { Authorization: 'Bearer sk-bench' } },
    options: { model: 'gpt-4o-mini' },
    override: { endpoint: `${mockUrl}${P}` },
  });
  let plugins: Record<string, unknown> = { 'ai-proxy-multi': { instances: [inst('mock')] } };
  let headers: Record<string, string> = {};
  if (CHAIN === 'full') {
    plugins = {
      'key-auth': {},
      'ai-proxy-multi': { fallback_strategy: ['http_429', 'http_5xx'], instances: [inst('mock-a'), inst('mock-b')] },
      'ai-rate-limiting': { limit: 1e12, time_window: 60, limit_strategy: 'total_tokens' },
      prometheus: {},
    };
    const c = await gw.admin('PUT', '/apisix/admin/consumers', { username: 'bench', plugins: { 'key-auth': { key: CONSUMER_KEY } } });
    if (c.status >= 300) throw new Error(`consumer: ${c.status} ${c.text}`);
    headers = { apikey: CONSUMER_KEY };
  }
  const r = await gw.admin('PUT', '/apisix/admin/routes/bench', { uri: P, methods: ['POST'], plugins });
  if (r.status >= 300) throw new Error(`route: ${r.status} ${r.text}`);
  return headers;
}

const LLM_FORMAT = '$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri" "$apisix_request_id" "$request_type" "$llm_time_to_first_token" "$llm_model" "$request_llm_model" "$llm_prompt_tokens" "$llm_completion_tokens"';

async function main(): Promise<void> {
  const started = Date.now();
  if (PIN) execFileSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const mock = await startChild('mock-upstream.js');
  let gw: GatewayProcess | undefined;
  let floor: { url: string; proc: ChildProcess } | undefined;
  try {
    const config: Record<string, any> = {
      nginx_config: { http: { enable_access_log: CHAIN === 'full', access_log: 'logs/access.log', ...(CHAIN === 'full' ? { access_log_format: LLM_FORMAT } : {}) } },
    };
    if (WORKERS) config.nginx_config.worker_processes = /^\d+$/.test(WORKERS) ? Number(WORKERS) : WORKERS;
    gw = await startGateway({ config });
    // with several workers the gateway may use both cores (its CPU per
    // request is then summed over the primary and its workers, cpuSeconds)
    pin(gw.proc.pid!, WORKERS && WORKERS !== '1' ? '0,1' : 1);
    const gwRss = rssMb(gw.proc.pid!);
    const headers = await configure(gw, mock.url);
    floor = await startChild('baseline-proxy.js', [mock.url]);
    pin(floor.proc.pid!, 1);
    await new Promise((r) => setTimeout(r, 500));
    const floorRss = rssMb(floor.proc.pid!);

    const direct: Target = { name: 'direct', url: mock.url, headers: {} };
    const fl: Target = { name: 'floor', url: floor.url, pid: floor.proc.pid, headers: {} };
    const sy: Target = { name: 'switchyard', url: gw.proxyUrl, pid: gw.proc.pid, headers };
    const only = (t: Target) => {
      freeze(fl, t !== fl);
      freeze(sy, t !== sy);
    };

    const sat: Record<string, Saturation> = {};
    for (const t of [fl, sy]) {
      only(t);
      sat[t.name] = await saturate(t, SECONDS);
    }
    const lat: Record<string, Record<number, number[]>> = { direct: {}, floor: {}, switchyard: {} };
    for (const rate of RATES) {
      for (const t of [direct, fl, sy]) {
        if (t !== direct) only(t);
        await fixedRate(t, rate, 1);
        lat[t.name]![rate] = await fixedRate(t, rate, RATE_SECONDS);
      }
    }
    const tt: Record<string, number[]> = {};
    for (const t of [direct, fl, sy]) {
      if (t !== direct) only(t);
      await ttfb(t, 20);
      tt[t.name] = await ttfb(t, STREAMS);
    }
    freeze(fl, false);
    freeze(sy, false);
    const paired = await pairedRounds(fl, sy, PAIRED, PAIRED_RATE, RATE_SECONDS);

    const ms = (x: number) => (Math.abs(x) >= 1 ? `${x.toFixed(2)} ms` : `${Math.round(x * 1000)} µs`);
    const signed = (x: number) => (x >= 0 ? `+${ms(x)}` : `−${ms(-x)}`);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    const lines: string[] = [];
    lines.push(`switchyard bench: node ${process.version}, ${CPUS} CPUs (${os.cpus()[0]?.model ?? '?'}), route ${CHAIN}${WORKERS ? `, worker_processes ${WORKERS}` : ''}`);
    const multi = WORKERS !== undefined && WORKERS !== '1';
    lines.push(!PIN ? 'no pinning (taskset missing or one CPU): figures include the load generator sharing the cores'
      : multi ? 'floor pinned to core 1; switchyard (primary and workers) allowed cores 0 and 1, sharing core 0 with mock + load + this process; one target at a time'
        : 'gateway and floor pinned to core 1 (one at a time), mock + load + this process on core 0');
    lines.push(`saturation by ${WRK ? 'wrk -t1 -c64' : 'a closed loop in this process (install wrk for the real figure)'}, ${SECONDS} s after a 2 s warm-up`);
    lines.push('');
    lines.push('| figure | floor (node:http + undici) | switchyard | switchyard / floor |');
    lines.push('| --- | --- | --- | --- |');
    lines.push(`| max req/s | ${Math.round(sat.floor!.rps)} | ${Math.round(sat.switchyard!.rps)} | ${ratio(sat.switchyard!.rps, sat.floor!.rps)} |`);
    lines.push(`| CPU per request${multi ? ' (summed over primary and workers)' : ''} | ${Math.round(sat.floor!.cpuUsPerReq)} µs | ${Math.round(sat.switchyard!.cpuUsPerReq)} µs | ${ratio(sat.switchyard!.cpuUsPerReq, sat.floor!.cpuUsPerReq)} |`);
    const share = (x: Saturation) => `${x.targetCores.toFixed(2)} of ${x.coresBusy.toFixed(2)} busy cores (load + mock ${(x.coresBusy - x.targetCores).toFixed(2)})`;
    lines.push(`| cores at saturation: target / all busy | ${share(sat.floor!)} | ${share(sat.switchyard!)} | |`);
    for (const rate of RATES) {
      const d = lat.direct![rate]!;
      for (const p of [50, 99]) {
        const f = percentile(lat.floor![rate]!, p) - percentile(d, p);
        const s = percentile(lat.switchyard![rate]!, p) - percentile(d, p);
        lines.push(`| added latency p${p} at ${rate} req/s | ${signed(f)} | ${signed(s)} | ${signed(s - f)} vs floor |`);
      }
    }
    for (const p of [50, 99]) {
      const f = percentile(tt.floor!, p) - percentile(tt.direct!, p);
      const s = percentile(tt.switchyard!, p) - percentile(tt.direct!, p);
      lines.push(`| added time to first byte p${p} (streams) | ${signed(f)} | ${signed(s)} | ${signed(s - f)} vs floor |`);
    }
    lines.push(`| RSS at start | ${floorRss} MB | ${gwRss} MB | +${(gwRss - floorRss).toFixed(1)} MB |`);
    if (paired.length) {
      const r = paired.map((x) => x.ratio).sort((a, b) => a - b);
      const us = (k: 'floorUs' | 'switchyardUs') => Math.round(percentile(paired.map((x) => x[k]).sort((a, b) => a - b), 50));
      lines.push(`| CPU per request, paired: both at ${PAIRED_RATE} req/s at once, median of ${paired.length} × ${RATE_SECONDS} s | ${us('floorUs')} µs | ${us('switchyardUs')} µs | ${r[Math.floor((r.length - 1) / 2)]!.toFixed(2)}× (${r[0]!.toFixed(2)}–${r[r.length - 1]!.toFixed(2)}) |`);
    }
    lines.push('');
    lines.push(`total ${Math.round((Date.now() - started) / 1000)} s`);
    console.log(lines.join('\n'));
  } finally {
    if (floor) { try { process.kill(floor.proc.pid!, 'SIGCONT'); } catch { /* gone */ } floor.proc.kill('SIGTERM'); }
    if (gw) { for (const p of processTree(gw.proc.pid!)) { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } } await gw.stop(); }
    mock.proc.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
