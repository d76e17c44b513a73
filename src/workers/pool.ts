// The primary's proxy workers (R-WRK-1..2): forks them with node:cluster,
// hands each the configuration snapshot, keeps count of which change each
// has acknowledged, replaces a worker that dies (the cause goes to the error
// log) and stops them all on shutdown.
import cluster, { type Worker } from 'node:cluster';
import type { ListenAddr } from '../config/types.js';
import type { Logger } from '../core/log.js';
import { isSy, type ToPrimary, type ToWorker } from './messages.js';

export interface PoolMember {
  /** cluster's worker id: unique for the life of the primary */
  readonly id: number;
  readonly pid: number;
  /** the last change this worker said is live */
  acked: number;
  /** `init` was sent: the worker takes part in acknowledgements */
  inited: boolean;
  ready: boolean;
  addresses?: ListenAddr[];
}

interface Member extends PoolMember {
  worker: Worker;
  gone: boolean;
  /** resolves when the process exited and its channel is closed (every message read) */
  finished: Promise<void>;
}

export interface PoolOptions {
  size: number;
  log: Logger;
  /** the `init` message for a worker (snapshot of now) */
  init(id: number): Extract<ToWorker, { sy: 'init' }>;
  /** every other message of a worker */
  onMessage(m: PoolMember, msg: ToPrimary): void;
  /** a worker is gone (died or stopped) */
  onGone(m: PoolMember): void;
  /** longest wait for every worker to acknowledge a change (default 5 s) */
  ackTimeoutMs?: number;
}

interface AckWaiter {
  seq: number;
  resolve(): void;
  timer: NodeJS.Timeout;
}

function describeExit(code: number | null, signal: string | null): string {
  if (signal) return `killed by signal ${signal}`;
  return `exit code ${code}`;
}

export class WorkerPool {
  private readonly members = new Map<number, Member>();
  private readonly waiters = new Set<AckWaiter>();
  private stopping = false;
  private starting = true;
  private startFailure: ((err: Error) => void) | undefined;
  /** last time a replacement was forked for a worker that died before it was ready */
  private lastEarlyDeath = 0;

  constructor(private readonly opts: PoolOptions) {
    cluster.setupPrimary({ serialization: 'advanced' });
  }

  /** forks `size` workers; resolves when all are ready, rejects on the first that fails */
  async start(): Promise<void> {
    const failed = new Promise<never>((_, reject) => (this.startFailure = reject));
    failed.catch(() => {});
    const ready: Array<Promise<void>> = [];
    for (let i = 0; i < this.opts.size; i++) ready.push(this.fork().then(() => undefined));
    try {
      await Promise.race([Promise.all(ready), failed]);
    } catch (err) {
      await this.killAll();
      throw err;
    } finally {
      this.starting = false;
      this.startFailure = undefined;
    }
  }

  /** the live workers */
  list(): PoolMember[] {
    return [...this.members.values()].filter((m) => !m.gone);
  }

  send(id: number, msg: ToWorker): void {
    const m = this.members.get(id);
    if (!m || m.gone || !m.worker.isConnected()) return;
    try {
      m.worker.send(msg);
    } catch {
      /* the worker is exiting: its replacement gets a fresh snapshot */
    }
  }

  broadcast(msg: ToWorker): void {
    for (const m of this.members.values()) if (m.inited && !m.gone) this.send(m.id, msg);
  }

  /** resolves once every live worker acknowledged change `seq` (or after the ack timeout, with a warning) */
  acked(seq: number): Promise<void> {
    if (this.allAcked(seq)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const w: AckWaiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          const late = this.list().filter((m) => m.inited && m.acked < seq).map((m) => `${m.id} (pid ${m.pid})`);
          if (late.length) this.opts.log.warn(`configuration change ${seq} not yet acknowledged by worker(s) ${late.join(', ')}; answering anyway`);
          resolve();
        }, this.opts.ackTimeoutMs ?? 5_000),
      };
      this.waiters.add(w);
    });
  }

  private allAcked(seq: number): boolean {
    for (const m of this.members.values()) if (m.inited && !m.gone && m.acked < seq) return false;
    return true;
  }

  private checkWaiters(): void {
    for (const w of this.waiters) {
      if (!this.allAcked(w.seq)) continue;
      clearTimeout(w.timer);
      this.waiters.delete(w);
      w.resolve();
    }
  }

  private fork(replacing?: number): Promise<Member> {
    const worker = cluster.fork({ SWITCHYARD_WORKER: '1' });
    let exited!: () => void;
    let disconnected!: () => void;
    const exitP = new Promise<void>((r) => (exited = r));
    const discP = new Promise<void>((r) => (disconnected = r));
    const m: Member = {
      id: worker.id,
      pid: worker.process.pid ?? 0,
      acked: 0,
      inited: false,
      ready: false,
      worker,
      gone: false,
      finished: Promise.all([exitP, discP]).then(() => undefined),
    };
    this.members.set(m.id, m);
    const log = this.opts.log;
    return new Promise<Member>((resolveReady) => {
      worker.on('message', (msg: unknown) => {
        if (!isSy(msg)) return;
        const t = msg as ToPrimary;
        switch (t.sy) {
          case 'hello': {
            const init = this.opts.init(m.id);
            m.acked = init.seq;
            m.inited = true;
            this.send(m.id, init);
            return;
          }
          case 'ready':
            m.ready = true;
            m.addresses = t.addresses;
            log.info(`worker ${m.id} (pid ${m.pid}) ready${replacing !== undefined ? `, replacing worker ${replacing}` : ''}`);
            resolveReady(m);
            return;
          case 'fail':
            log.error(`worker ${m.id} (pid ${m.pid}) failed to start: ${t.error}`);
            if (this.starting) this.startFailure?.(new Error(t.error));
            return;
          case 'ack':
            if (t.seq > m.acked) m.acked = t.seq;
            this.checkWaiters();
            return;
          default:
            this.opts.onMessage(m, t);
        }
      });
      worker.on('disconnect', () => disconnected());
      worker.on('error', (err) => log.warn(`worker ${m.id} (pid ${m.pid}): ${err.message}`));
      worker.on('exit', (code, signal) => {
        exited();
        m.gone = true;
        this.opts.onGone(m);
        this.checkWaiters();
        if (this.stopping) {
          if (code !== 0) log.warn(`worker ${m.id} (pid ${m.pid}) ended while stopping: ${describeExit(code, signal)}`);
          return;
        }
        if (this.starting) {
          this.startFailure?.(new Error(`worker ${m.id} (pid ${m.pid}) exited during start-up: ${describeExit(code, signal)}`));
          return;
        }
        this.members.delete(m.id);
        const early = !m.ready;
        log.error(`worker ${m.id} (pid ${m.pid}) died: ${describeExit(code, signal)}; starting a replacement`);
        // a worker that cannot even get ready is not re-forked in a tight loop
        const wait = early && Date.now() - this.lastEarlyDeath < 1_000 ? 1_000 : 0;
        if (early) this.lastEarlyDeath = Date.now();
        const again = () => {
          if (!this.stopping) void this.fork(m.id);
        };
        if (wait) setTimeout(again, wait).unref();
        else again();
      });
    });
  }

  /** tells every worker to drain (R-GEN-18) and waits for them to exit; kills those still there after `graceMs` + 5 s */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const all = [...this.members.values()];
    for (const m of all) if (!m.gone) this.send(m.id, { sy: 'stop', graceMs });
    const killTimer = setTimeout(() => {
      for (const m of all) {
        if (m.gone) continue;
        this.opts.log.warn(`worker ${m.id} (pid ${m.pid}) did not stop in time: killing it`);
        m.worker.process.kill('SIGKILL');
      }
    }, graceMs + 5_000);
    await Promise.all(all.map((m) => m.finished));
    clearTimeout(killTimer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waiters.clear();
  }

  private async killAll(): Promise<void> {
    this.stopping = true;
    const all = [...this.members.values()];
    for (const m of all) if (!m.gone) m.worker.process.kill('SIGKILL');
    await Promise.all(all.map((m) => m.finished));
  }
}
