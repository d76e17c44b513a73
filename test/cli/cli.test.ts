// The CLI (CONTRACT): version, validate (R-GEN-12/13), start and graceful stop
// (R-GEN-18), admin key bootstrap (R-GEN-14), usage and start-up errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { CLI, REPO_ROOT, defaultTestConfig, startGateway } from '../helpers/gateway.js';

interface Run { code: number | null; stdout: string; stderr: string }

function cli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeConfig(dir: string, text: string): string {
  const f = path.join(dir, 'config.yaml');
  writeFileSync(f, text);
  return f;
}

test('CONTRACT R-GEN-4 version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const r = await cli(['version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${pkg.version}\n`);
});

test('R-GEN-12 CONTRACT usage errors exit 2 with a usage line', async () => {
  for (const args of [[], ['frobnicate'], ['start', '--bogus'], ['validate', '-c'], ['version', 'extra']]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: switchyard/);
  }
});

test('CONTRACT -h/--help prints the usage and exits 0 for every command (start, validate, sync, dump)', async () => {
  for (const cmd of ['start', 'validate', 'sync', 'dump']) {
    for (const flag of ['-h', '--help']) {
      const r = await cli([cmd, flag]);
      assert.equal(r.code, 0, `${cmd} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: switchyard <command>/, `${cmd} ${flag}`);
      assert.match(r.stdout, /\n {2}sync -f FILE/, `${cmd} ${flag}`);
      assert.equal(r.stderr, '', `${cmd} ${flag}`);
    }
  }
  // help wins over a missing -f; a bad option is still a usage error
  assert.equal((await cli(['sync', '-c', 'nope.yaml', '-h'])).code, 0);
  const bad = await cli(['dump', '--help', '--bogus']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage: switchyard/);
});

test('R-GEN-12 validate: a good file exits 0; warnings for ignored APISIX keys are printed', async (t) => {
  const dir = tempDir(t);
  const f = writeConfig(dir, YAML.stringify({ ...defaultTestConfig(), graphql: { max_size: 1 } }));
  const r = await cli(['validate', '-c', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${f}: ok\n`);
  assert.equal(r.stderr, 'warning: ignored APISIX setting: graphql\n');
  const d = await cli(['validate'], { cwd: REPO_ROOT });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, 'conf/config.yaml: ok\n', 'the default file is conf/config.yaml');
});

test('R-GEN-12 validate: a bad file exits non-zero with a message naming the key path', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, RegExp]> = [
    ['deployment: {admin: {admin_listen: {port: abc}}}', /deployment\.admin\.admin_listen\.port: expected integer 0-65535, got "abc"/],
    ['apisix: {node_listen: 70000}', /apisix\.node_listen: expected integer 0-65535/],
    ['nope: true', /nope: unknown key/],
    ['apisix: {enable_control: maybe}', /apisix\.enable_control: expected boolean/],
    ['apisix: {node_listen: ${{SWITCHYARD_TEST_UNSET_VAR}}}', /SWITCHYARD_TEST_UNSET_VAR is not set/],
  ];
  for (const [text, re] of cases) {
    const r = await cli(['validate', '-c', writeConfig(dir, text)]);
    assert.equal(r.code, 1, text);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /^switchyard: invalid configuration /);
  }
  const missing = await cli(['validate', '-c', path.join(dir, 'none.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /none\.yaml: no such file/);
});

test('R-GEN-13 validate and start apply environment substitution', async (t) => {
  const dir = tempDir(t);
  const f = writeConfig(dir, 'apisix: {node_listen: ${{SY_PORT}}, control: {port: ${{SY_CTL:=0}}}}');
  assert.equal((await cli(['validate', '-c', f], { env: { SY_PORT: '0' } })).code, 0);
  const r = await cli(['validate', '-c', f], { env: { SY_PORT: 'x' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /apisix\.node_listen: expected a port number/);
});

test('R-GEN-12 CONTRACT start: a bad configuration exits 1 with a message naming the key', async (t) => {
  const dir = tempDir(t);
  const r = await cli(['start', '-c', writeConfig(dir, 'apisix: {control: {port: -5}}')], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid configuration .*apisix\.control\.port: expected integer 0-65535, got -5/);
});

test('R-GEN-12 CONTRACT start: a port in use exits 1 with a clear message', async (t) => {
  const dir = tempDir(t);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const cfg = defaultTestConfig() as any;
  cfg.apisix.node_listen = [{ ip: '127.0.0.1', port }];
  const r = await cli(['start', '-c', writeConfig(dir, YAML.stringify(cfg))], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`switchyard: failed to start: .*address already in use 127\\.0\\.0\\.1:${port}`));
});

test('R-GEN-18 start then SIGTERM (or SIGINT) stops gracefully and exits 0; start-up warnings are logged', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const gw = await startGateway({ config: { apisix: { enable_ipv6: false } } });
    t.after(() => gw.kill());
    assert.match(gw.stderr(), /\[warn\] ignored APISIX setting: apisix\.enable_ipv6/);
    assert.match(gw.proxyUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const code = await gw.stop(signal);
    assert.equal(code, 0, gw.stderr());
    assert.match(gw.stderr(), new RegExp(`received ${signal}`));
    rmSync(gw.dir, { recursive: true, force: true });
  }
});

test('R-GEN-14 an empty admin key is generated, printed once on stdout, persisted under data_dir and reused', async (t) => {
  const config = { deployment: { admin: { admin_key: [{ name: 'admin', key: '', role: 'admin' }] } } };
  const gw = await startGateway({ config });
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(gw.dir, { recursive: true, force: true, maxRetries: 5 }));
  const m = /^generated admin key for "admin": ([0-9a-f]{32})$/m.exec(gw.stdout());
  assert.ok(m, `stdout: ${gw.stdout()}`);
  const key = m[1]!;
  assert.equal(gw.stdout().match(/generated admin key/g)!.length, 1);
  assert.deepEqual(JSON.parse(readFileSync(path.join(gw.dir, 'data', 'admin_keys.json'), 'utf8')), { admin: key });
  assert.equal(await gw.stop(), 0);

  const again = await startGateway({ config, dir: gw.dir });
  t.after(() => again.kill());
  assert.doesNotMatch(again.stdout(), /generated admin key/);
  assert.deepEqual(JSON.parse(readFileSync(path.join(gw.dir, 'data', 'admin_keys.json'), 'utf8')), { admin: key });
  assert.equal(await again.stop(), 0);
});

test('R-GEN-18 started by npm (npm -> sh -> node): when the parent dies without passing the signal on, the gateway stops', async (t) => {
  const dir = tempDir(t);
  const f = writeConfig(dir, YAML.stringify(defaultTestConfig()));
  // `; exit $?` keeps sh as the parent (no exec), as npm's `sh -c` does
  const sh = spawn('sh', ['-c', `"${process.execPath}" "${CLI}" start -c "${f}"; exit $?`], {
    cwd: dir, env: { ...process.env, npm_command: 'exec' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  sh.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const closed = new Promise<void>((r) => sh.stderr.once('close', () => r()));
  t.after(() => sh.kill('SIGKILL'));
  const until = async (re: RegExp, ms: number) => {
    const deadline = Date.now() + ms;
    while (!re.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.match(err, re);
  };
  await until(/switchyard started with/, 15_000);
  sh.kill('SIGKILL');
  await until(/\[info\] stopped/, 10_000);
  assert.match(err, /the npm process that started switchyard \(pid \d+\) is gone/);
  await closed; // the node process exited (it held the pipe)
});
