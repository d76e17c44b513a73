// Starts a real etcd (the `etcd` binary: /usr/bin/etcd, or $ETCD_BIN) on free
// ports on 127.0.0.1 with a temporary data directory. It can be stopped and
// restarted on the same ports and data (cluster tests restart it under load).
//
//   const etcd = await startEtcd();
//   t.after(() => etcd.close());
//   etcd.url            // "http://127.0.0.1:<client port>"
//   await etcd.stop();  // SIGTERM (or kill('SIGKILL')), data kept
//   await etcd.start(); // same ports, same data
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
export { freePort };

export interface EtcdProcess {
  url: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  running(): boolean;
  /** start again after stop() on the same ports and data */
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** send a signal and return (SIGSTOP / SIGCONT pause and resume etcd) */
  signal(signal: NodeJS.Signals): void;
  /** the running etcd's process id */
  pid(): number | undefined;
  /** stop and remove the data directory */
  close(): Promise<void>;
  output(): string;
}

export function etcdBinary(): string | undefined {
  const candidates = [process.env.ETCD_BIN, '/usr/bin/etcd', '/usr/local/bin/etcd'].filter(Boolean) as string[];
  return candidates.find((p) => existsSync(p));
}


async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url + '/health', { signal: AbortSignal.timeout(500) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

export async function startEtcd(opts: { timeoutMs?: number } = {}): Promise<EtcdProcess> {
  const bin = etcdBinary();
  if (!bin) throw new Error('etcd binary not found (install etcd-server or set ETCD_BIN)');
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'switchyard-etcd-'));
  const url = `http://127.0.0.1:${clientPort}`;
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const start = async () => {
    if (proc) return;
    const child = spawn(
      bin,
      [
        '--name', 'test',
        '--data-dir', path.join(dataDir, 'data'),
        '--listen-client-urls', url,
        '--advertise-client-urls', url,
        '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
        '--heartbeat-interval', '50',
        '--election-timeout', '300',
        '--log-level', 'warn',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        // etcd 3.4/3.5 refuse to start on arm64 unless told the architecture is accepted
        env: process.arch === 'arm64' ? { ...process.env, ETCD_UNSUPPORTED_ARCH: 'arm64' } : process.env,
      },
    );
    proc = child;
    child.stdout!.setEncoding('utf8').on('data', (d) => (out = (out + d).slice(-20_000)));
    child.stderr!.setEncoding('utf8').on('data', (d) => (out = (out + d).slice(-20_000)));
    let done = false;
    exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        done = true;
        if (proc === child) proc = undefined;
        resolve();
      }),
    );
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    while (!(await healthy(url))) {
      if (done) throw new Error(`etcd exited early:\n${out}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`etcd did not become healthy in time:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = proc;
    if (!p) return;
    p.kill(signal);
    const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    url,
    clientPort,
    peerPort,
    dataDir,
    running: () => proc !== undefined,
    start,
    stop,
    signal: (sig) => void proc?.kill(sig),
    pid: () => proc?.pid,
    async close() {
      await stop('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
    output: () => out,
  };
}
