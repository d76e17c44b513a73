// The README's five-minute tour, run as written (issue 15, docs that match):
// `npm run mock` (scripts/mock.ts) and `npx switchyard start` with the shipped
// conf/config.yaml in a fresh directory, then the tour's shell blocks through
// bash and curl. Only the port numbers are moved to free ports, so the test
// can run beside others; and worker_processes is 1, for the exact 8:2 split
// the README promises with that setting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { CLI, REPO_ROOT } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

const MOCK = path.join(REPO_ROOT, 'dist/scripts/mock.js');


/** the tour section's fenced shell blocks, unindented */
function tourBlocks(readme: string): string[] {
  const start = readme.indexOf('## A five-minute tour');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks: string[] = [];
  for (const m of section.matchAll(/^( *)```shell\n([\s\S]*?)^\1```$/gm)) {
    const indent = m[1]!.length;
    blocks.push(m[2]!.split('\n').map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n').trim());
  }
  return blocks;
}

interface Proc { proc: ChildProcess; out: () => string; err: () => string }

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  return { proc, out: () => out, err: () => err };
}

function stop(p: Proc): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.proc.once('exit', () => resolve());
    p.proc.kill('SIGTERM');
  });
}

function bash(script: string, cwd: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = run('bash', ['-euo', 'pipefail', '-c', script], cwd);
    const timer = setTimeout(() => p.proc.kill('SIGKILL'), 30_000);
    p.proc.once('error', reject);
    p.proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, out: p.out(), err: p.err() }); });
  });
}

test('issue 15: the README tour works as written against npm run mock', async (t) => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const blocks = tourBlocks(readme);
  assert.equal(blocks.length, 4, 'mock, start, create the route, send requests');
  assert.equal(blocks[0], 'npm run mock');
  assert.equal(blocks[1], 'npx switchyard start');

  const [proxy, admin, control, prom, mockA, mockB] = await Promise.all([1, 2, 3, 4, 5, 6].map(() => freePort()));
  const ports: Record<string, number> = { 9080: proxy!, 9180: admin!, 9090: control!, 9091: prom!, 1980: mockA!, 1981: mockB! };
  const moved = (s: string) => s.replace(/127\.0\.0\.1:(9080|9180|9090|9091|1980|1981)\b/g, (_m, p: string) => `127.0.0.1:${ports[p]}`);

  // a fresh directory with the shipped configuration, ports moved
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-tour-'));
  mkdirSync(path.join(dir, 'conf'));
  const shipped = YAML.parseDocument(readFileSync(path.join(REPO_ROOT, 'conf/config.yaml'), 'utf8'));
  shipped.setIn(['apisix', 'node_listen'], proxy);
  shipped.setIn(['apisix', 'control', 'port'], control);
  shipped.setIn(['deployment', 'admin', 'admin_listen', 'port'], admin);
  shipped.setIn(['plugin_attr', 'prometheus', 'export_addr', 'port'], prom);
  shipped.setIn(['nginx_config', 'worker_processes'], 1);
  writeFileSync(path.join(dir, 'conf/config.yaml'), shipped.toString());

  // 1. npm run mock (its build step is npm test's own), 2. npx switchyard start
  const mock = run(process.execPath, [MOCK], dir, { MOCK_PORTS: `${mockA},${mockB}` });
  const gw = run(process.execPath, [CLI, 'start'], dir);
  t.after(async () => { await stop(gw); await stop(mock); });
  await until(() => (mock.out().match(/listening on/g)?.length ?? 0) === 2 || mock.proc.exitCode !== null, 10_000, 'the mocks');
  assert.equal(mock.proc.exitCode, null, mock.err());
  await until(() => /\] switchyard started with /.test(gw.err()) || gw.proc.exitCode !== null, 15_000, 'the gateway');
  assert.equal(gw.proc.exitCode, null, gw.err());
  assert.match(gw.out(), /generated admin key for "admin": \S+/, 'the key is printed once at the first start');

  // 3. and 4. as one shell session (ADMIN_KEY is exported by the first)
  const r = await bash(`${moved(blocks[2]!)}\necho\n${moved(blocks[3]!)}`, dir);
  assert.equal(r.code, 0, `stdout:\n${r.out}\nstderr:\n${r.err}`);
  assert.match(r.out, /"key":"\/apisix\/routes\/tour"/, 'the route was created');
  const hits = r.out.match(/^hello from mock-[ab]$/gm) ?? [];
  assert.equal(hits.length, 10, r.out);
  assert.equal(hits.filter((h) => h.endsWith('mock-a')).length, 8, 'the 8:2 split with worker_processes: 1');

  // 5. the access log and the metrics
  await until(() => {
    try { return readFileSync(path.join(dir, 'logs/access.log'), 'utf8').split('\n').filter((l) => l.includes('/anything')).length === 10; } catch { return false; }
  }, 5000, 'ten access-log lines');
  const step5 = /`(curl -s http:\/\/127\.0\.0\.1:9091\/apisix\/prometheus\/metrics)`/.exec(readme);
  assert.ok(step5, 'the README shows the metrics command');
  const metrics = await bash(moved(step5[1]!), dir);
  assert.equal(metrics.code, 0, metrics.err);
  assert.match(metrics.out, /^apisix_node_info\{/m);
});
