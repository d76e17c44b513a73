// `npm run bench`: a fast mock upstream (child process), switchyard through
// its CLI (child process, one core), and this process driving load with an
// undici Pool. Reports:
//   1. throughput: non-streaming req/s through switchyard (closed loop,
//      CONCURRENCY in flight, DURATION seconds after a warm-up);
//   2. added latency: p50/p99 at a fixed open-loop rate of 1,000 req/s,
//      switchyard minus calling the mock directly;
//   3. added time to first byte for streams (sequential requests).
// Bounded: the whole run takes well under 60 s.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const DURATION = env('BENCH_SECONDS', 8);
const CONCURRENCY = env('BENCH_CONCURRENCY', 64);
const RATE = env('BENCH_RATE', 1000);
const RATE_SECONDS = env('BENCH_RATE_SECONDS', 4);
const STREAMS = env('BENCH_STREAMS', 200);
const SEQUENTIAL = env('BENCH_SEQUENTIAL', 1000);

const BODY = JSON.stringify({ messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] });
const STREAM_BODY = JSON.stringify({ messages: [{ role: 'user', content: 'What is 1+1?' }], stream: true });
const HEADERS = { 'content-type': 'application/json' };

/** CPU seconds (user + system) a process has used so far, from /proc (Linux) */
function cpuSeconds(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

async function startMock(script = 'mock-upstream.js', args: string[] = []): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [path.join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('mock did not start')), 10_000);
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

async function closedLoop(pool: Pool, p: string, seconds: number, concurrency: number): Promise<{ count: number; errors: number; rps: number }> {
  let count = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        const r = await pool.request({ path: p, method: 'POST', headers: HEADERS, body: BODY });
        await r.body.dump();
        if (r.statusCode === 200) count++;
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  return { count, errors, rps: count / secs };
}

/** open loop at `rate` req/s for `seconds`: latencies in ms */
async function fixedRate(pool: Pool, p: string, rate: number, seconds: number): Promise<{ lat: number[]; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  let sent = 0;
  const one = async () => {
    const s = performance.now();
    try {
      const r = await pool.request({ path: p, method: 'POST', headers: HEADERS, body: BODY });
      await r.body.dump();
      if (r.statusCode === 200) lat.push(performance.now() - s);
      else errors++;
    } catch {
      errors++;
    }
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (sent < due) { inflight.push(one()); sent++; }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  lat.sort((a, b) => a - b);
  return { lat, errors };
}

/** one request at a time: latencies in ms */
async function sequential(pool: Pool, p: string, n: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await pool.request({ path: p, method: 'POST', headers: HEADERS, body: BODY });
    await r.body.dump();
    lat.push(performance.now() - s);
  }
  return lat.sort((a, b) => a - b);
}

async function ttfb(pool: Pool, p: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await pool.request({ path: p, method: 'POST', headers: HEADERS, body: STREAM_BODY });
    let first = true;
    for await (const _c of r.body) {
      if (first) { out.push(performance.now() - s); first = false; }
    }
  }
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const mock = await startMock();
  let gw: GatewayProcess | undefined;
  try {
    gw = await startGateway();
    const r = await gw.admin('PUT', '/apisix/admin/routes/bench', {
      uri: '/v1/chat/completions',
      plugins: {
        'ai-proxy-multi': {
          instances: [
            { name: 'a', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
            { name: 'b', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, override: { endpoint: mock.url } },
          ],
        },
      },
    });
    if (r.status >= 300) throw new Error(`route: ${r.status} ${r.text}`);
    const gwPool = new Pool(gw.proxyUrl, { connections: CONCURRENCY, pipelining: 1 });
    const mockPool = new Pool(mock.url, { connections: CONCURRENCY, pipelining: 1 });
    const P = '/v1/chat/completions';

    await closedLoop(gwPool, P, 2, CONCURRENCY); // warm-up (JIT, pools)
    const gwCpu0 = cpuSeconds(gw.proc.pid);
    const thr = await closedLoop(gwPool, P, DURATION, CONCURRENCY);
    const gwCpuPerReq = ((cpuSeconds(gw.proc.pid) - gwCpu0) / (thr.count + thr.errors)) * 1e6;
    const direct = await closedLoop(mockPool, P, Math.min(3, DURATION), CONCURRENCY);

    // the floor: a bare node:http + undici proxy on the same machine and load
    const baseline = await startMock('baseline-proxy.js', [mock.url]);
    const basePool = new Pool(baseline.url, { connections: CONCURRENCY, pipelining: 1 });
    await closedLoop(basePool, P, 2, CONCURRENCY);
    const baseCpu0 = cpuSeconds(baseline.proc.pid);
    const base = await closedLoop(basePool, P, Math.min(4, DURATION), CONCURRENCY);
    const baseCpuPerReq = ((cpuSeconds(baseline.proc.pid) - baseCpu0) / (base.count + base.errors)) * 1e6;
    await basePool.close();
    baseline.proc.kill('SIGTERM');

    await fixedRate(mockPool, P, RATE, 1);
    const dLat = await fixedRate(mockPool, P, RATE, RATE_SECONDS);
    const gLat = await fixedRate(gwPool, P, RATE, RATE_SECONDS);

    const dSeq = await sequential(mockPool, P, SEQUENTIAL);
    const gSeq = await sequential(gwPool, P, SEQUENTIAL);

    await ttfb(gwPool, P, 20);
    const dT = await ttfb(mockPool, P, STREAMS);
    const gT = await ttfb(gwPool, P, STREAMS);

    const f = (x: number) => x.toFixed(3);
    const report = {
      node: process.version,
      cpus: os.cpus().length,
      loadavg_at_start: loadStart,
      throughput: {
        through_switchyard_rps: Math.round(thr.rps),
        through_bare_node_proxy_rps: Math.round(base.rps),
        direct_to_mock_rps: Math.round(direct.rps),
        switchyard_cpu_us_per_request: Math.round(gwCpuPerReq),
        bare_node_proxy_cpu_us_per_request: Math.round(baseCpuPerReq),
        concurrency: CONCURRENCY,
        seconds: DURATION,
        errors: thr.errors,
      },
      latency_at_fixed_rate: {
        rate_rps: RATE,
        seconds: RATE_SECONDS,
        direct_ms: { p50: f(percentile(dLat.lat, 50)), p99: f(percentile(dLat.lat, 99)) },
        switchyard_ms: { p50: f(percentile(gLat.lat, 50)), p99: f(percentile(gLat.lat, 99)) },
        added_ms: { p50: f(percentile(gLat.lat, 50) - percentile(dLat.lat, 50)), p99: f(percentile(gLat.lat, 99) - percentile(dLat.lat, 99)) },
        errors: dLat.errors + gLat.errors,
      },
      sequential: {
        requests: SEQUENTIAL,
        direct_ms_p50: f(percentile(dSeq, 50)),
        switchyard_ms_p50: f(percentile(gSeq, 50)),
        added_ms_p50: f(percentile(gSeq, 50) - percentile(dSeq, 50)),
        added_ms_p99: f(percentile(gSeq, 99) - percentile(dSeq, 99)),
      },
      stream_ttfb: {
        requests: STREAMS,
        direct_ms_p50: f(percentile(dT, 50)),
        switchyard_ms_p50: f(percentile(gT, 50)),
        added_ms_p50: f(percentile(gT, 50) - percentile(dT, 50)),
        added_ms_p99: f(percentile(gT, 99) - percentile(dT, 99)),
      },
      total_seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    console.log(`switchyard bench (${process.version}, ${os.cpus().length} CPUs, load average at start ${loadStart.join(' ')})`);
    console.log(`  throughput (non-streaming, ${CONCURRENCY} in flight, ${DURATION}s): ${report.throughput.through_switchyard_rps} req/s through switchyard; ${report.throughput.direct_to_mock_rps} req/s direct to the mock; ${report.throughput.through_bare_node_proxy_rps} req/s through a bare node:http+undici proxy`);
    console.log(`  CPU per proxied request: switchyard ${report.throughput.switchyard_cpu_us_per_request} µs, bare node:http+undici proxy ${report.throughput.bare_node_proxy_cpu_us_per_request} µs`);
    console.log(`  added latency at ${RATE} req/s: p50 ${report.latency_at_fixed_rate.added_ms.p50} ms, p99 ${report.latency_at_fixed_rate.added_ms.p99} ms (direct p50 ${report.latency_at_fixed_rate.direct_ms.p50} ms, via switchyard p50 ${report.latency_at_fixed_rate.switchyard_ms.p50} ms)`);
    console.log(`  added latency, one request at a time: p50 ${report.sequential.added_ms_p50} ms, p99 ${report.sequential.added_ms_p99} ms`);
    console.log(`  streams: added time to first byte p50 ${report.stream_ttfb.added_ms_p50} ms, p99 ${report.stream_ttfb.added_ms_p99} ms`);
    console.log(JSON.stringify(report));
    await gwPool.close();
    await mockPool.close();
  } finally {
    await gw?.stop();
    mock.proc.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
