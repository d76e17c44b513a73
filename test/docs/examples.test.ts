// Runs the documentation's examples (issue #15): every fenced shell block of
// README.md and docs/*.md that contains a `curl`, `switchyard` or
// `npx switchyard` command runs, in page order, against a real gateway (the
// CLI, test/helpers/gateway.ts) and the README tour's mock upstreams
// (scripts/mock.ts, on test/helpers/mock-llm.ts), so the docs cannot drift.
//
// Rules:
// - Examples are the shell blocks with such a command, and the shell blocks
//   that start a helper in the background (`… &`, e.g. an echo upstream).
// - Each page gets its own gateway, mocks and working directory (the
//   gateway's cwd, holding conf/config.yaml, data/, logs/); its examples run in
//   document order with bash (`set -eo pipefail`), so later ones see earlier PUTs.
// - Substitutions: the documented ports are replaced (as whole words) by the
//   test's: 9080 proxy, 9180 Admin API, 9090 Control API, 9091 Prometheus,
//   1980 / 1981 the two tour mocks; any other port in DOC_PORTS gets a free
//   port of its own (the same one for the whole page). `switchyard` and
//   `npx switchyard` run dist/src/cli/main.js. The gateway generates its admin
//   key at the first start, as with the shipped configuration; $ADMIN_KEY is
//   that key, and $OPENAI_API_KEY, $DEEPSEEK_API_KEY, $AZ_OPENAI_API_KEY are
//   placeholders (nothing reaches a real provider).
// - Checks: every block exits 0; a curl line ending in a comment starting with
//   a status (`curl … # 401 Missing API key`) must get that status; a block
//   marked `<!-- example: output -->` is the expected output of the example
//   before it: JSON is compared as a subset (objects may have more members;
//   `*_time`, `created*` and `*Index` numbers only need to be numbers), other
//   text as fragments between `...` that must appear in order. In a block
//   whose commands start with `$ `, the other lines are the expected output
//   (stderr goes to stdout there) and a failing command is allowed (the block can show
//   `$ echo $?` and the code).
// - A block that cannot run here (a real provider key, an etcd cluster,
//   Kafka, the internet, a foreground `start`) is preceded by
//   `<!-- example: skip (why) -->`; skipped blocks are counted and reported,
//   and a skip marker with no reason fails the test.
// - A block ending in a background command (`… &`) is followed by a wait
//   until every non-gateway port in it accepts connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, REPO_ROOT, startGateway } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { startTourMocks } from '../../scripts/mock.js';
import { freePort } from '../helpers/ports.js';

/** ports the docs use besides the gateway's and the mocks' (echo servers, loggers, probes) */
const DOC_PORTS = [9000, 3000, 8001, 8002, 8080];
const EXAMPLE_LANGS = new Set(['shell', 'sh', 'bash', 'console', '']);
const COMMAND = /^\s*(\$\s+)?(curl|npx switchyard|switchyard)\s/m;
const MARKER = /^<!--\s*example:\s*(skip|output)\b\s*(.*?)\s*-->$/;

interface Block {
  page: string;
  line: number; // 1-based line of the opening fence
  lang: string;
  text: string; // dedented
  marker?: { kind: 'skip' | 'output'; arg: string };
}

export function parseBlocks(page: string, md: string): Block[] {
  const lines = md.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^ {0,${indent}}\`\`\`\\s*$`).test(lines[j]!); j++) body.push(lines[j]!.slice(Math.min(indent, /^ */.exec(lines[j]!)![0].length)));
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const m = k >= 0 ? MARKER.exec(lines[k]!.trim()) : null;
    blocks.push({ page, line: i + 1, lang: open[2]!, text: body.join('\n'), marker: m ? { kind: m[1] as 'skip' | 'output', arg: m[2]! } : undefined });
    i = j;
  }
  return blocks;
}

const isExample = (b: Block) => EXAMPLE_LANGS.has(b.lang) && b.marker?.kind !== 'output' && (COMMAND.test(b.text) || /&\s*$/.test(b.text.trimEnd()));


/** the gateway of one page on free ports, with the documented ports mapped to them */
async function startOnFreePorts(mocks: { port: number }[]) {
  const ports = { proxy: await freePort(), admin: await freePort(), control: await freePort(), metrics: await freePort() };
  const portMap = new Map<number, number>([[9080, ports.proxy], [9180, ports.admin], [9090, ports.control], [9091, ports.metrics], [1980, mocks[0]!.port], [1981, mocks[1]!.port]]);
  for (const p of DOC_PORTS) portMap.set(p, await freePort());
  const gatewayPorts = new Set([ports.proxy, ports.admin, ports.control, ports.metrics]);
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-docs-'));
  const config = {
    apisix: { node_listen: [{ ip: '127.0.0.1', port: ports.proxy }], control: { ip: '127.0.0.1', port: ports.control } },
    deployment: { admin: { admin_listen: { ip: '127.0.0.1', port: ports.admin }, admin_key: [{ name: 'admin', key: '', role: 'admin' }] } },
    plugin_attr: { prometheus: { export_addr: { ip: '127.0.0.1', port: ports.metrics } } },
  };
  const gw = await startGateway({ dir, config });
  return { dir, gw, portMap, gatewayPorts };
}

const accepts = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

const PRELUDE = [
  'set -eo pipefail',
  // the variables a reader exported in an earlier block (`export OPENAI_API_KEY=…`) are still set
  'if [ -f .example-env ]; then source .example-env; fi',
  "trap 'export -p > \"$EXAMPLE_DIR/.example-env\"' EXIT",
  `switchyard() { node ${JSON.stringify(CLI)} "$@"; }`,
  'npx() { if [ "$1" = switchyard ]; then shift; switchyard "$@"; else command npx "$@"; fi; }',
  // the status of every curl, with the script line it was called from, on stderr
  'curl() { command curl --max-time 20 -w "%{stderr}@@status ${BASH_LINENO[0]} %{http_code}\\n" "$@"; }',
];

interface Run { code: number | null; stdout: string; stderr: string; statuses: Map<number, string[]> }

function runScript(script: string, cwd: string, env: Record<string, string>, pids: number[]): Promise<Run> {
  const file = path.join(cwd, `.example-${pids.length}.sh`);
  writeFileSync(file, [...PRELUDE, script, ''].join('\n'));
  // detached: its own process group, so background commands (`… &`) can be ended with it
  const child = spawn('bash', [file], { cwd, env: { ...process.env, ...env, EXAMPLE_DIR: cwd }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  pids.push(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 30_000);
    // 'exit', not 'close': a background command keeps the pipes open
    child.once('exit', (code) => {
      clearTimeout(timer);
      setImmediate(() => {
        const statuses = new Map<number, string[]>();
        for (const m of (stderr + stdout).matchAll(/^@@status (\d+) (\d{3})$/gm)) {
          const line = Number(m[1]) - PRELUDE.length;
          statuses.set(line, [...(statuses.get(line) ?? []), m[2]!]);
        }
        resolve({ code, stdout: stdout.replace(/^@@status .*\n/gm, ''), stderr: stderr.replace(/^@@status .*\n/gm, ''), statuses });
      });
    });
  });
}

const TIME_KEY = /(_time|^created.*|Index)$/;

function jsonContains(actual: unknown, expected: unknown, key = ''): boolean {
  if (typeof expected === 'number' && TIME_KEY.test(key)) return typeof actual === 'number';
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => jsonContains(actual[i], e));
  if (expected && typeof expected === 'object') {
    return !!actual && typeof actual === 'object' && !Array.isArray(actual)
      && Object.entries(expected).every(([k, v]) => k in (actual as object) && jsonContains((actual as any)[k], v, k));
  }
  return actual === expected;
}

function checkOutput(where: string, expected: string, actual: string): void {
  let parsed: unknown;
  try { parsed = JSON.parse(expected); } catch { parsed = undefined; }
  if (parsed !== undefined) {
    const candidates = actual.split('\n').filter((l) => l.trim().startsWith('{') || l.trim().startsWith('['));
    const ok = [actual, ...candidates].some((c) => { try { return jsonContains(JSON.parse(c), parsed); } catch { return false; } });
    assert.ok(ok, `${where}: the output does not contain the documented JSON\nexpected:\n${expected}\nactual:\n${actual}`);
    return;
  }
  let at = 0;
  for (const frag of expected.split('...').map((f) => f.trim()).filter(Boolean)) {
    for (const piece of frag.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const i = actual.indexOf(piece, at);
      assert.ok(i >= 0, `${where}: the output lacks the documented ${JSON.stringify(piece)}\nactual:\n${actual}`);
      at = i + piece.length;
    }
  }
}

const pages = ['README.md', ...readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const skipped: string[] = [];
let ran = 0;

for (const page of pages) {
  const blocks = parseBlocks(page, readFileSync(path.join(REPO_ROOT, page), 'utf8'));
  const examples = blocks.filter(isExample);
  if (examples.length === 0) continue;
  test(`issue #15 the examples of ${page} run as written`, { timeout: 60_000 }, async (t) => {
    for (const b of examples) {
      if (b.marker?.kind === 'skip') {
        assert.match(b.marker.arg, /^\(.+\)$/, `${page}:${b.line}: a skip marker says why: <!-- example: skip (why) -->`);
        skipped.push(`${page}:${b.line} ${b.marker.arg}`);
      }
    }
    const runnable = examples.filter((b) => b.marker?.kind !== 'skip');
    if (runnable.length === 0) return;

    const mocks = await startTourMocks([0, 0]);
    t.after(() => Promise.all(mocks.map((m) => m.close())));
    // the free ports are found by binding port 0 and closing it, so a test running
    // beside this one can take one of them before the gateway binds it: then start
    // again on fresh ports (the gateway says EADDRINUSE and exits)
    let started: Awaited<ReturnType<typeof startOnFreePorts>> | undefined;
    for (let tries = 1; !started; tries++) {
      try {
        started = await startOnFreePorts(mocks);
      } catch (err) {
        if (tries >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
      }
    }
    const { dir, gw, portMap, gatewayPorts } = started;
    const subst = (s: string) => s.replace(/\b(\d{4})\b/g, (all, p) => String(portMap.get(Number(p)) ?? all));

    // `switchyard sync` / `dump` read ./conf/config.yaml, as next to the shipped one
    mkdirSync(path.join(dir, 'conf'));
    copyFileSync(gw.configFile, path.join(dir, 'conf/config.yaml'));
    const pids: number[] = [];
    t.after(async () => {
      for (const pid of pids) { try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ } }
      await gw.kill();
    });
    const adminKey = JSON.parse(readFileSync(path.join(dir, 'data/admin_keys.json'), 'utf8')).admin as string;
    assert.match(adminKey, /^\w{16,}$/);
    const env = { ADMIN_KEY: adminKey, OPENAI_API_KEY: 'sk-docs-openai', DEEPSEEK_API_KEY: 'sk-docs-deepseek', AZ_OPENAI_API_KEY: 'docs-azure' };

    for (const b of runnable) {
      const where = `${page}:${b.line}`;
      const text = subst(b.text);
      const lines = text.split('\n');
      const prompt = lines.some((l) => /^\$\s/.test(l));
      // a `$ ` block shows its output (and may show `$ echo $?`): its commands may fail
      const script = prompt ? lines.map((l, i) => (i === 0 ? 'set +e; exec 2>&1; ' : '') + (/^\$\s/.test(l) ? l.replace(/^\$\s+/, '') : '')).join('\n') : text;
      const began = Date.now();
      const run = await runScript(script, dir, env, pids);
      t.diagnostic(`${where}: ${Date.now() - began} ms`);
      ran++;
      const report = `\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
      assert.equal(run.code, 0, `${where}: the example exits 0${report}`);
      lines.forEach((l, i) => {
        const m = /^\s*curl\b.*\s#\s*(\d{3})\b/.exec(l);
        if (m) assert.deepEqual(run.statuses.get(i + 1), [m[1]], `${where} line ${i + 1}: documented status ${m[1]}${report}`);
      });
      if (prompt) checkOutput(where, lines.filter((l) => l.trim() && !/^\$\s/.test(l)).join('\n'), run.stdout);
      const next = blocks[blocks.indexOf(b) + 1];
      if (next?.marker?.kind === 'output') checkOutput(`${page}:${next.line}`, subst(next.text), run.stdout);
      if (/&\s*$/.test(text.trimEnd())) {
        for (const m of text.matchAll(/\b(\d{4,5})\b/g)) {
          const p = Number(m[1]);
          if ([...portMap.values()].includes(p) && !gatewayPorts.has(p)) await until(() => accepts(p), 10_000, `${where}: port ${p} (started in the background)`);
        }
      }
    }
  });
}

test('issue #15 the skipped doc examples are counted and reported', () => {
  // runs after the page tests (node:test runs a file's tests in order)
  console.log(`docs examples: ${ran} blocks ran, ${skipped.length} skipped:\n  ${skipped.join('\n  ')}`);
  assert.ok(ran > 0);
});
