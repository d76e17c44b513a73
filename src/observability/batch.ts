// A batching sink with APISIX batch-processor semantics (R-LOG-4), shared by
// http-logger and kafka-logger.
//
// - Entries are queued; the queue becomes a batch when it holds
//   `batch_max_size` entries, when `inactive_timeout` seconds passed since the
//   last entry was added, or when its oldest entry is `buffer_duration`
//   seconds old.
// - A failed batch is retried after `retry_delay` seconds up to
//   `max_retry_count` times, then dropped with an error log line.
// - Sending is asynchronous and never blocks `push`. At most `maxConcurrent`
//   batches are being sent at once; the entries held (queued, waiting to be
//   sent, in flight or waiting for a retry) are bounded by `maxBuffered`, so a
//   dead or slow collector costs at most that much memory: beyond it new
//   entries are dropped and the drops are reported in the error log.
// - Pending batches are flushed on graceful shutdown (R-GEN-18).
//
// `closeOnShutdown` and `batchLifecycle` give the loggers' per-configuration
// resources (batch processor, connections, files) one close that runs once,
// on shutdown or a while after the configuration was replaced (R-GEN-10).
import type { Logger } from '../core/log.js';
import type { GatewayScope } from '../core/lifecycle.js';
import type { LogDropCounter } from '../core/types.js';

export type DropReason = 'buffer_full' | 'retries_exhausted' | 'closed';

interface DropCount { logger: string; reason: string; n: number }

/** entries dropped since start, per processor name and reason (apisix_log_entries_dropped_total); one per gateway, in its Metrics */
export class LogDrops implements LogDropCounter {
  readonly counts = new Map<string, DropCount>();

  add(logger: string, reason: string, n: number): void {
    const key = `${logger}\0${reason}`;
    let e = this.counts.get(key);
    if (!e) this.counts.set(key, (e = { logger, reason, n: 0 }));
    e.n += n;
  }
}

type ShutdownScope = Pick<GatewayScope, 'onShutdown'>;

export interface BatchConfig {
  name?: string;
  batch_max_size?: number;
  /** seconds */
  inactive_timeout?: number;
  /** seconds */
  buffer_duration?: number;
  max_retry_count?: number;
  /** seconds */
  retry_delay?: number;
}

export interface BatchOptions<T> extends BatchConfig {
  /** sends one batch; rejects (or throws) when the batch failed */
  send(entries: T[]): Promise<void>;
  log: Logger;
  /** most entries held at once (default max(10000, 2 × batch_max_size)) */
  maxBuffered?: number;
  /** batches sent concurrently (default 4) */
  maxConcurrent?: number;
  /** the gateway whose stop flushes this processor (none: the owner closes it) */
  scope?: ShutdownScope;
  /** where dropped entries are counted (the gateway's metrics) */
  drops?: LogDropCounter;
  /** longest a shutdown flush waits for the collector, ms (default 10000) */
  shutdownTimeoutMs?: number;
}

/**
 * How long a replaced logger configuration keeps its connections: longer than
 * the 30 s a request may still run with the configuration it started with.
 */
export const RETIRE_MS = 35_000;

/**
 * `close` made idempotent and registered as a shutdown hook; the hook is
 * removed only once `close` finished, so that a shutdown racing a destroy
 * still waits for it.
 */
export function closeOnShutdown(close: () => Promise<void>, scope: ShutdownScope): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const once = (): Promise<void> =>
    (closing ??= (async () => {
      try {
        await close();
      } finally {
        unregister();
      }
    })());
  const unregister = scope.onShutdown(once);
  return once;
}

export interface BatchLifecycle {
  /** flush pending batches, then release the connection (shutdown, or a while after retire) */
  close(): Promise<void>;
  /** destroy: flush now, keep sending late entries of in-flight requests, close after RETIRE_MS */
  retire(): void;
}

/** the close/retire pair of a logger configuration whose batches go through `release`-able connections */
export function batchLifecycle<T>(batch: BatchProcessor<T>, release: () => Promise<unknown>, scope: ShutdownScope): BatchLifecycle {
  const close = closeOnShutdown(async () => {
    await batch.close();
    await release().catch(() => {});
  }, scope);
  return {
    close,
    retire() {
      batch.retire();
      setTimeout(() => void close(), RETIRE_MS).unref();
    },
  };
}

const ERROR_BURST = 10;
const ERROR_WINDOW_MS = 10_000;

export const BATCH_DEFAULTS = {
  batch_max_size: 1000,
  inactive_timeout: 5,
  buffer_duration: 60,
  max_retry_count: 0,
  retry_delay: 1,
} as const;

/** the batch attributes of R-LOG-4 as JSON Schema properties (name default per plugin) */
export function batchSchemaProperties(defaultName: string): Record<string, unknown> {
  return {
    name: { type: 'string', default: defaultName },
    batch_max_size: { type: 'integer', minimum: 1, default: BATCH_DEFAULTS.batch_max_size },
    inactive_timeout: { type: 'integer', minimum: 1, default: BATCH_DEFAULTS.inactive_timeout },
    buffer_duration: { type: 'integer', minimum: 1, default: BATCH_DEFAULTS.buffer_duration },
    max_retry_count: { type: 'integer', minimum: 0, default: BATCH_DEFAULTS.max_retry_count },
    retry_delay: { type: 'integer', minimum: 0, default: BATCH_DEFAULTS.retry_delay },
  };
}

interface Batch<T> {
  entries: T[];
  retries: number;
}

export interface BatchStats {
  queued: number;
  buffered: number;
  inFlight: number;
  sent: number;
  failed: number;
  dropped: number;
}

export class BatchProcessor<T> {
  readonly name: string;
  private readonly maxSize: number;
  private readonly inactiveMs: number;
  private readonly bufferMs: number;
  private readonly maxRetry: number;
  private readonly retryDelayMs: number;
  private readonly maxBuffered: number;
  private readonly maxConcurrent: number;
  private readonly send: (entries: T[]) => Promise<void>;
  private readonly log: Logger;
  private readonly shutdownTimeoutMs: number;

  private queue: T[] = [];
  private firstAt = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  /** batches waiting for a send slot */
  private ready: Batch<T>[] = [];
  private retryTimers = new Set<NodeJS.Timeout>();
  private waitingRetry = new Set<Batch<T>>();
  private running = 0;
  /** entries held outside `queue` (ready, in flight, waiting for a retry) */
  private held = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private retired = false;
  private cutSoon = false;
  private unregister: (() => void) | undefined;
  private droppedSinceReport = 0;
  private readonly drops: LogDropCounter | undefined;
  private errWindowStart = 0;
  private errInWindow = 0;
  private errSuppressed = 0;
  private lastDropReport = 0;
  readonly stats: BatchStats = { queued: 0, buffered: 0, inFlight: 0, sent: 0, failed: 0, dropped: 0 };

  constructor(opts: BatchOptions<T>) {
    this.name = opts.name ?? 'batch processor';
    this.maxSize = Math.max(1, Math.floor(opts.batch_max_size ?? BATCH_DEFAULTS.batch_max_size));
    this.inactiveMs = Math.max(0, (opts.inactive_timeout ?? BATCH_DEFAULTS.inactive_timeout) * 1000);
    this.bufferMs = Math.max(0, (opts.buffer_duration ?? BATCH_DEFAULTS.buffer_duration) * 1000);
    this.maxRetry = Math.max(0, Math.floor(opts.max_retry_count ?? BATCH_DEFAULTS.max_retry_count));
    this.retryDelayMs = Math.max(0, (opts.retry_delay ?? BATCH_DEFAULTS.retry_delay) * 1000);
    this.maxBuffered = Math.max(1, opts.maxBuffered ?? Math.max(10_000, 2 * this.maxSize));
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? 4);
    this.send = opts.send;
    this.log = opts.log;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 10_000;
    this.drops = opts.drops;
    if (opts.scope !== undefined) this.unregister = opts.scope.onShutdown(() => this.close());
  }

  /** entries currently held (queued + waiting + in flight + waiting for retry) */
  get buffered(): number {
    return this.queue.length + this.held;
  }

  /** queue one entry; false when it was dropped (buffer full or closed) */
  push(entry: T): boolean {
    if (this.closed) {
      this.drop(1, 'processor closed', 'closed');
      return false;
    }
    if (this.buffered >= this.maxBuffered) {
      this.drop(1, `buffer full (${this.maxBuffered} entries)`, 'buffer_full');
      return false;
    }
    const now = Date.now();
    if (!this.queue.length) this.firstAt = now;
    this.lastAt = now;
    this.queue.push(entry);
    if (this.queue.length >= this.maxSize) {
      this.cut();
    } else if (this.retired) {
      if (!this.cutSoon) {
        this.cutSoon = true;
        setImmediate(() => {
          this.cutSoon = false;
          if (this.queue.length) this.cut();
        });
      }
    } else {
      this.arm(now);
    }
    return true;
  }

  /**
   * The configuration was replaced or removed: send what is queued now and,
   * from now on, send entries as they come (requests still in flight with the
   * old configuration keep being logged, R-GEN-10) until `close`.
   */
  retire(): void {
    this.retired = true;
    if (this.queue.length) this.cut();
  }

  /** send everything queued now and wait until no batch is pending (retries included) */
  flush(timeoutMs?: number): Promise<void> {
    if (this.queue.length) this.cut();
    if (this.isIdle()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let t: NodeJS.Timeout | undefined;
      const done = () => {
        if (t) clearTimeout(t);
        resolve();
      };
      this.idleWaiters.push(done);
      if (timeoutMs !== undefined) {
        t = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
          resolve();
        }, timeoutMs);
        t.unref();
      }
    });
  }

  /** flush (bounded by the shutdown timeout), then refuse new entries and stop timers */
  async close(): Promise<void> {
    if (this.closed) return;
    // retries still waiting are sent at once: there is no later
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const b of this.waitingRetry) this.ready.push(b);
    this.waitingRetry.clear();
    this.pump();
    await this.flush(this.shutdownTimeoutMs);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const lost = this.buffered;
    if (lost) this.log.error(`Batch Processor[${this.name}] closed with ${lost} entries not delivered`);
    if (this.errSuppressed) this.log.error(`Batch Processor[${this.name}]: ${this.errSuppressed} error lines suppressed`);
    this.reportDrops(true);
    this.unregister?.();
  }

  private isIdle(): boolean {
    return !this.queue.length && this.held === 0 && this.running === 0;
  }

  private settle(): void {
    this.stats.buffered = this.buffered;
    this.stats.queued = this.queue.length;
    this.stats.inFlight = this.running;
    if (!this.isIdle()) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /**
   * Error lines are rate limited (a dead collector under load must not flood
   * the error log): at most ERROR_BURST lines per ERROR_WINDOW_MS, the rest
   * counted and reported with the next line that gets through.
   */
  private logError(line: string): void {
    const now = Date.now();
    if (now - this.errWindowStart >= ERROR_WINDOW_MS) {
      this.errWindowStart = now;
      this.errInWindow = 0;
    }
    if (this.errInWindow >= ERROR_BURST) {
      this.errSuppressed++;
      return;
    }
    this.errInWindow++;
    if (this.errSuppressed) {
      line += ` (${this.errSuppressed} similar error lines suppressed)`;
      this.errSuppressed = 0;
    }
    this.log.error(line);
  }

  private countDropped(why: DropReason, n: number): void {
    this.drops?.add(this.name, why, n);
  }

  private drop(n: number, reason: string, why: DropReason): void {
    this.countDropped(why, n);
    this.stats.dropped += n;
    this.droppedSinceReport += n;
    this.reportDrops(false, reason);
  }

  private reportDrops(force: boolean, reason = 'buffer full'): void {
    if (!this.droppedSinceReport) return;
    const now = Date.now();
    if (!force && now - this.lastDropReport < 5000) return;
    this.lastDropReport = now;
    this.log.error(`Batch Processor[${this.name}] ${reason}: dropped ${this.droppedSinceReport} entries`);
    this.droppedSinceReport = 0;
  }

  /** schedule the inactive/buffer check (one timer, moved only when it must fire earlier) */
  private arm(now: number): void {
    const due = Math.min(this.lastAt + this.inactiveMs, this.firstAt + this.bufferMs);
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, due - now));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    if (!this.queue.length) return;
    const now = Date.now();
    if (now - this.lastAt >= this.inactiveMs || now - this.firstAt >= this.bufferMs) {
      this.cut();
    } else {
      this.arm(now);
    }
  }

  /** turn the queue into batches of at most batch_max_size and start sending */
  private cut(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.queue.length) {
      const entries = this.queue.splice(0, this.maxSize);
      this.held += entries.length;
      this.ready.push({ entries, retries: 0 });
    }
    this.pump();
  }

  private pump(): void {
    while (this.running < this.maxConcurrent && this.ready.length) {
      const b = this.ready.shift()!;
      this.running++;
      this.dispatch(b);
    }
    this.settle();
  }

  private dispatch(b: Batch<T>): void {
    let p: Promise<void>;
    try {
      p = Promise.resolve(this.send(b.entries));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      () => {
        this.running--;
        this.held -= b.entries.length;
        this.stats.sent += b.entries.length;
        this.pump();
      },
      (err: unknown) => {
        this.running--;
        const msg = err instanceof Error ? err.message : String(err);
        this.logError(`Batch Processor[${this.name}] failed to process entries: ${msg}`);
        if (b.retries < this.maxRetry && !this.closed) {
          b.retries++;
          this.waitingRetry.add(b);
          const t = setTimeout(() => {
            this.retryTimers.delete(t);
            this.waitingRetry.delete(b);
            this.ready.push(b);
            this.pump();
          }, this.retryDelayMs);
          t.unref();
          this.retryTimers.add(t);
        } else {
          this.held -= b.entries.length;
          this.stats.failed += b.entries.length;
          this.countDropped('retries_exhausted', b.entries.length);
          this.logError(`Batch Processor[${this.name}] exceeded the max_retry_count[${this.maxRetry}] dropping the entries`);
        }
        this.pump();
      },
    );
  }
}
