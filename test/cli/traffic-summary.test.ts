// `switchyard start` on a terminal prints at most one line a second summing
// the traffic since the previous line (requests, errors, tokens), and nothing
// per request; with stdout not a terminal it prints no such line (issue #15).
// The CLI runs under a real pseudo-terminal: util-linux `script -qfec`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ADMIN_KEY, CLI, defaultTestConfig, startGateway } from '../helpers/gateway.js';
import { startMockLlm, type MockLlm } from '../helpers/mock-llm.js';
import { until } from '../helpers/wait.js';

interface TtyGateway {
  proc: ChildProcess;
  /** everything the terminal showed */
  output(): string;
  /** the traffic lines, with the time each arrived */
  traffic: Array<{ at: number; requests: number; errors: number; tokens: number; line: string }>;
  proxyUrl: string;
  adminUrl: string;
  stop(): Promise<void>;
}

const TRAFFIC = /^traffic: (\d+) requests?, (\d+) errors?, (\d+) tokens?\r?$/;

async function startOnTerminal(workers: number): Promise<TtyGateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-tty-'));
  const config = defaultTestConfig() as any;
  config.nginx_config.worker_processes = workers;
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, YAML.stringify(config));
  const cmd = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} start -c ${JSON.stringify(file)}`;
  const proc = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const traffic: TtyGateway['traffic'] = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      const m = TRAFFIC.exec(l);
      if (m) traffic.push({ at: Date.now(), requests: Number(m[1]), errors: Number(m[2]), tokens: Number(m[3]), line: l });
    }
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await until(() => /\] switchyard started with /.test(out), 20_000, `the gateway on a terminal to start\n${out}`, 25);
  const addr = (name: string) => {
    const m = new RegExp(`${name} listening on ([^\\s]+):(\\d+)`).exec(out);
    assert.ok(m, `${name} address in\n${out}`);
    return `http://${m[1]}:${m[2]}`;
  };
  return {
    proc,
    output: () => out,
    traffic,
    proxyUrl: addr('proxy'),
    adminUrl: addr('admin'),
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

async function putRoute(adminUrl: string, mock: MockLlm): Promise<void> {
  const res = await fetch(`${adminUrl}/apisix/admin/routes/chat`, {
    method: 'PUT',
    headers: { 'X-API-KEY': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({
      uri: '/chat',
      plugins: { 'ai-proxy-multi': { instances: [{ name: 'mock', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer sk-x' } }, options: { model: 'gpt-4' }, override: { endpoint: `${mock.url}/v1/chat/completions` } }] } },
    }),
  });
  assert.ok(res.status === 200 || res.status === 201, await res.text());
}

/** 3 chat requests (31 tokens each, the mock's usage) and 1 that matches no route (404) */
async function sendTraffic(proxyUrl: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${proxyUrl}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'What is 1+1?' }] }) });
    const text = await r.text();
    assert.equal(r.status, 200, text);
  }
  const nf = await fetch(`${proxyUrl}/nowhere`);
  assert.equal(nf.status, 404);
  await nf.text();
}

function sum(t: TtyGateway['traffic']) {
  return t.reduce((a, l) => ({ requests: a.requests + l.requests, errors: a.errors + l.errors, tokens: a.tokens + l.tokens }), { requests: 0, errors: 0, tokens: 0 });
}

for (const workers of [1, 2]) {
  test(`issue #15 start on a terminal (worker_processes ${workers}): one summary line a second at most, with the traffic's counts, nothing per request`, { timeout: 60_000 }, async (t) => {
    const mock = await startMockLlm();
    const gw = await startOnTerminal(workers);
    // the same traffic to a gateway whose stdout is a pipe: it prints no summary
    const piped = await startGateway({ config: { nginx_config: { worker_processes: workers } } });
    t.after(async () => { await gw.stop(); await piped.kill(); await mock.close(); });
    await putRoute(gw.adminUrl, mock);
    await putRoute(piped.adminUrl, mock);

    assert.equal(gw.traffic.length, 0, 'no line before any traffic');
    await Promise.all([sendTraffic(gw.proxyUrl), sendTraffic(piped.proxyUrl)]);
    await until(() => sum(gw.traffic).requests >= 4, 10_000, `the summary of 4 requests\n${gw.output()}`);
    assert.deepEqual(sum(gw.traffic), { requests: 4, errors: 1, tokens: 93 }, gw.traffic.map((l) => l.line).join('\n'));
    for (let i = 1; i < gw.traffic.length; i++) {
      assert.ok(gw.traffic[i]!.at - gw.traffic[i - 1]!.at >= 500, `lines ${gw.traffic[i - 1]!.at} and ${gw.traffic[i]!.at} are a tick apart`);
    }
    // nothing per request on the terminal: no request path shows up there
    assert.doesNotMatch(gw.output(), /\/chat|\/nowhere/);
    // more traffic later: a new line with only that traffic
    const before = gw.traffic.length;
    const r = await fetch(`${gw.proxyUrl}/nowhere-else`);
    await r.text();
    await until(() => gw.traffic.length > before, 10_000, 'a line for the later request');
    assert.deepEqual(sum(gw.traffic.slice(before)), { requests: 1, errors: 1, tokens: 0 });
    // by now the piped gateway had as many ticks: it printed none of these lines
    assert.doesNotMatch(piped.stdout(), /traffic:/);
    assert.doesNotMatch(piped.stderr(), /traffic:/);
  });
}
