// Starts the real CLI (`node dist/src/cli/main.js start -c <file>`) as a child
// process on free ports (port 0; the bound ports are read from its log lines)
// and gives the test the addresses and the admin key.
//
// Secret scan (issue 16): once the process has exited, its stdout, stderr and
// every file it wrote under its working directory (logs; not config.yaml nor
// the store) are searched for the admin key and for any secret a test
// registered with `registerSecret`; `stop()` and `kill()` then reject naming
// the leak, so every test that starts a gateway checks its logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

const secrets = new Set<string>([ADMIN_KEY]);

/** a distinctive secret (8+ characters) that no log of any gateway started here may contain */
export function registerSecret(secret: string): void {
  if (secret.length >= 8) secrets.add(secret);
}

/** names of configuration fields that hold credentials (auth headers, consumer keys, passwords, tokens) */
const CREDENTIAL_FIELD = /^(key|secret|password|token|api[-_]?key|x-api-key|authorization|access[-_]key(_id)?|secret[-_]access[-_]key|secret_key|client_secret|session_token)$/i;

/**
 * every credential a test writes through the Admin API becomes a secret the
 * scan looks for, so the whole suite runs with distinctive secrets (issue 16)
 */
function registerCredentials(v: unknown, field = '', depth = 0): void {
  if (depth > 12) return;
  if (typeof v === 'string') {
    if (!CREDENTIAL_FIELD.test(field)) return;
    const bare = v.replace(/^(Bearer|Basic|Token)\s+/i, '');
    if (bare.length >= 12 && !bare.includes('$')) registerSecret(bare);
  } else if (Array.isArray(v)) for (const x of v) registerCredentials(x, field, depth + 1);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) registerCredentials(x, k, depth + 1);
}

/** files the gateway wrote under `dir`, but not its input or its store */
function writtenFiles(dir: string, skip: Set<string>, depth = 0): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const name of names) {
    const p = path.join(dir, name);
    if (skip.has(p)) continue;
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory() && depth < 3) files.push(...writtenFiles(p, skip, depth + 1));
    else if (st.isFile() && st.size <= 8 * 1024 * 1024) files.push(p);
  }
  return files;
}

/** where a registered secret appears in the output or the logs, if anywhere */
function findLeak(dir: string, configFile: string, out: string, err: string): string | undefined {
  const skip = new Set([configFile, path.join(dir, 'data')]);
  const sources: Array<[string, () => string]> = [['stdout', () => out], ['stderr', () => err]];
  // logs only: files under logs/ or named *.log (inputs a test writes there may hold secrets on purpose)
  for (const f of writtenFiles(dir, skip)) {
    if (f.startsWith(path.join(dir, 'logs') + path.sep) || f.endsWith('.log')) sources.push([f, () => readFileSync(f, 'latin1')]);
  }
  for (const [where, read] of sources) {
    const text = read();
    for (const s of secrets) {
      const at = text.indexOf(s);
      if (at >= 0) return `a secret (${s.slice(0, 4)}…) appears in ${where}: ${JSON.stringify(text.slice(Math.max(0, at - 80), at + s.length + 40))}`;
    }
  }
  return undefined;
}

export interface GatewayProcess {
  proc: ChildProcess;
  dir: string;
  configFile: string;
  proxyUrl: string;
  adminUrl: string;
  controlUrl?: string;
  metricsUrl?: string;
  adminKey: string;
  stdout(): string;
  stderr(): string;
  /** Admin API call with the admin key; returns status, headers and parsed JSON (or text) */
  admin(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  /** SIGTERM and wait for exit; resolves to the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill(): Promise<void>;
}

export interface StartOptions {
  /** merged over the default test configuration */
  config?: Record<string, unknown>;
  /** reuse a working directory (restart tests) */
  dir?: string;
  env?: Record<string, string>;
  /** raw YAML text instead of a generated config */
  rawConfig?: string;
  timeoutMs?: number;
}

function deepMerge(a: any, b: any): any {
  if (b === undefined) return a;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: any = { ...a };
    for (const k of Object.keys(b)) out[k] = deepMerge(a[k], b[k]);
    return out;
  }
  return b;
}

export function defaultTestConfig(): Record<string, unknown> {
  return {
    apisix: {
      node_listen: [{ ip: '127.0.0.1', port: 0 }],
      enable_admin: true,
      enable_control: true,
      control: { ip: '127.0.0.1', port: 0 },
    },
    deployment: {
      role: 'traditional',
      role_traditional: { config_provider: 'local' },
      local: { data_dir: 'data' },
      admin: {
        admin_listen: { ip: '127.0.0.1', port: 0 },
        admin_key: [{ name: 'admin', key: ADMIN_KEY, role: 'admin' }],
        allow_admin: ['127.0.0.0/24'],
      },
    },
    // the single-process path (R-WRK-3); test/workers/ sets 2
    nginx_config: { worker_processes: 1, http: { enable_access_log: true, access_log: 'logs/access.log' } },
    plugin_attr: { prometheus: { export_addr: { ip: '127.0.0.1', port: 0 } } },
  };
}

export async function startGateway(opts: StartOptions = {}): Promise<GatewayProcess> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'switchyard-test-'));
  const configFile = path.join(dir, 'config.yaml');
  const text = opts.rawConfig ?? YAML.stringify(deepMerge(defaultTestConfig(), opts.config ?? {}));
  writeFileSync(configFile, text);
  const proc = spawn(process.execPath, [CLI, 'start', '-c', configFile], {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  // after the last output: 'close' (stdio ended), or a while after exit when a worker still holds the pipes
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const scanned = exited
    .then(() => Promise.race([closed, new Promise<void>((r) => setTimeout(r, 2000).unref())]))
    .then(() => findLeak(dir, configFile, out, err));
  const checked = async () => {
    const leak = await scanned;
    if (leak) throw new Error(`secret scan: ${leak}`);
  };

  const addr = (name: string): string | undefined => {
    const m = new RegExp(`${name} listening on ([^\\s]+):(\\d+)\\n`).exec(err);
    return m ? `http://${m[1]}:${m[2]}` : undefined;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let done = false;
  exited.then(() => (done = true));
  // src/cli/start.ts logs `switchyard started with <file>` after every listener is bound
  while (!/\] switchyard started with /.test(err)) {
    if (done) throw new Error(`gateway exited early\nstdout:\n${out}\nstderr:\n${err}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`gateway did not start in time\nstdout:\n${out}\nstderr:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const adminUrl = addr('admin') ?? '';
  const gw: GatewayProcess = {
    proc,
    dir,
    configFile,
    proxyUrl: addr('proxy')!,
    adminUrl,
    controlUrl: addr('control'),
    metricsUrl: addr('prometheus'),
    adminKey: ADMIN_KEY,
    stdout: () => out,
    stderr: () => err,
    async admin(method, p, body, headers) {
      if (body !== undefined && method !== 'GET') {
        try { registerCredentials(typeof body === 'string' ? JSON.parse(body) : body); } catch { /* not JSON: a test of bad input */ }
      }
      const res = await fetch(adminUrl + p, {
        method,
        headers: { 'X-API-KEY': ADMIN_KEY, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const t = await res.text();
      let parsed: any = t;
      try { parsed = JSON.parse(t); } catch { /* not JSON */ }
      return { status: res.status, headers: res.headers, body: parsed, text: t };
    },
    async stop(signal = 'SIGTERM') {
      if (!done) proc.kill(signal);
      const code = await exited;
      await checked();
      return code;
    },
    async kill() {
      if (!done) proc.kill('SIGKILL');
      await exited;
      await checked();
    },
  };
  return gw;
}
