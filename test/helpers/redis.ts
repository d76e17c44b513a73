// Starts a throw-away redis-server on a free port on 127.0.0.1 (no
// persistence), optionally as a one-node Redis Cluster owning all slots.
// Tests that need Redis call `redisBinary()` first and skip with a clear
// message when it is absent (.ci/run installs it).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
export { freePort };

export function redisBinary(): string | undefined {
  for (const p of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(p)) return p;
  try {
    const p = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
    return p || undefined;
  } catch {
    return undefined;
  }
}

export const REDIS_SKIP = 'redis-server binary not found (install the redis-server package; .ci/run does)';


/** one RESP command over a fresh socket; resolves to the raw reply text */
export function redisCommand(port: number, args: string[], timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('redis command timed out')); }, timeoutMs);
    sock.once('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      // good enough for the small replies the helper reads
      if (/\r\n$/.test(buf)) {
        if (buf.startsWith('$')) {
          const n = Number(buf.slice(1, buf.indexOf('\r\n')));
          if (n >= 0 && Buffer.byteLength(buf) < buf.indexOf('\r\n') + 2 + n + 2) return;
        }
        clearTimeout(timer);
        sock.end();
        resolve(buf);
      }
    });
    sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
  });
}

export interface RedisServer {
  port: number;
  host: string;
  /** `127.0.0.1:<port>` */
  node: string;
  proc: ChildProcess;
  /** SIGKILL (simulates a crash) and wait for exit */
  kill(): Promise<void>;
  /** start again on the same port (data is lost) */
  restart(): Promise<void>;
  /** stop and remove the working directory */
  stop(): Promise<void>;
}

export interface RedisOptions {
  cluster?: boolean;
  password?: string;
  timeoutMs?: number;
  /** more redis-server arguments (`['--enable-debug-command', 'yes']` for DEBUG SLEEP) */
  args?: string[];
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const bin = redisBinary();
  if (!bin) throw new Error(REDIS_SKIP);
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-redis-'));
  const port = await freePort();
  // a cluster node's bus listens on port + 10000 unless told otherwise, which
  // lands in the kernel's ephemeral range (EADDRINUSE in CI): it gets a free port of its own
  let busPort = opts.cluster ? await freePort() : 0;
  while (busPort === port) busPort = await freePort();
  let proc!: ChildProcess;
  let exited!: Promise<void>;
  let log = '';

  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no'];
    if (opts.password) args.push('--requirepass', opts.password);
    if (opts.args) args.push(...opts.args);
    if (opts.cluster) args.push('--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', `nodes-${port}-${Date.now()}.conf`);
    proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => { log += d; });
    proc.stderr!.on('data', (d) => { log += d; });
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const auth = async (args: string[]) => {
      if (!opts.password) return redisCommand(port, args);
      return redisCommand(port, ['AUTH', opts.password]).then(() => redisCommand(port, args));
    };
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited early:\n${log}`);
      try {
        const r = opts.password
          ? await pingWithAuth(port, opts.password)
          : await redisCommand(port, ['PING'], 300);
        if (r.includes('PONG')) break;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not start in time:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    if (opts.cluster && !opts.password) {
      await auth(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
      const deadline2 = Date.now() + 5000;
      for (;;) {
        const info = await auth(['CLUSTER', 'INFO']);
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline2) throw new Error(`redis cluster not ok:\n${info}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await launch();

  const server: RedisServer = {
    port,
    host: '127.0.0.1',
    node: `127.0.0.1:${port}`,
    get proc() { return proc; },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await server.kill();
      await launch();
    },
    async stop() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

function pingWithAuth(port: number, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('timeout')); }, 300);
    sock.once('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('PONG') || buf.includes('-ERR') || buf.includes('-WRONGPASS')) {
        clearTimeout(timer);
        sock.end();
        resolve(buf);
      }
    });
    sock.write(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n`);
  });
}
