// An append-only text sink (a file or stdout). Callers hand over finished
// lines synchronously; the bytes are written asynchronously, in batches: the
// lines queued within BATCH_MS (or until BATCH_BYTES are queued, or while the
// previous write was in progress) go out in one write. One write per event
// loop turn cost a visible share of a request's CPU at high rates. The queue is bounded: when the disk cannot
// keep up, lines beyond `maxPendingBytes` are dropped and the drops are
// reported in the error log. Files: parent directories are created, the file
// is opened in append mode and reopened on SIGUSR1 (log rotation).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/log.js';

export interface LineSink {
  /** queue one line (the caller adds the trailing `\n`); false when dropped */
  push(line: string): boolean;
  /** write everything queued so far */
  flush(): Promise<void>;
  /** reopen the file (after rotation); no-op for stdout */
  reopen(): void;
  close(): Promise<void>;
  readonly target: string;
}

export interface LineSinkOptions {
  /** bound of the queue in bytes (default 16 MiB) */
  maxPendingBytes?: number;
  /** a label for error messages */
  label?: string;
}

/** hands one chunk of whole lines on; `done` when it may be reused */
export type ChunkWriter = (data: string, done: (err?: Error | null) => void) => void;

let forwarder: ((target: string, label: string) => ChunkWriter) | undefined;

/**
 * In a proxy worker (R-WRK-2): every sink created from now on hands its
 * batches to the writer this returns for its target (`stdout` or the
 * absolute file path) instead of writing itself; the primary writes them
 * whole, with one handle per file. Only a worker process sets it.
 */
export function forwardLineSinks(f: ((target: string, label: string) => ChunkWriter) | undefined): void {
  forwarder = f;
}

const reopeners = new Set<() => void>();
let usr1Installed = false;

function registerReopen(fn: () => void): () => void {
  reopeners.add(fn);
  if (!usr1Installed) {
    usr1Installed = true;
    // Installing a listener also keeps Node from starting its inspector on SIGUSR1.
    process.on('SIGUSR1', () => {
      for (const r of reopeners) r();
    });
  }
  return () => reopeners.delete(fn);
}

/** longest wait before queued lines are written */
const BATCH_MS = 20;
/** queued bytes that are written without waiting for BATCH_MS */
const BATCH_BYTES = 64 * 1024;

export function createLineSink(target: string, log: Logger, opts: LineSinkOptions = {}): LineSink {
  const maxPending = opts.maxPendingBytes ?? 16 * 1024 * 1024;
  const label = opts.label ?? target;
  const toStdout = target === 'stdout';
  const file = toStdout ? '' : path.resolve(target);
  const forward = forwarder?.(toStdout ? 'stdout' : file, label);

  let fd: number | undefined;
  let openError: string | undefined;
  const open = () => {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fd = fs.openSync(file, 'a');
      openError = undefined;
    } catch (err) {
      fd = undefined;
      const msg = `failed to open ${label} ${file}: ${(err as Error).message}`;
      if (msg !== openError) log.error(msg);
      openError = msg;
    }
  };
  if (!toStdout && !forward) open();

  let queue: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    scheduled = true;
    if (queuedBytes >= BATCH_BYTES) setImmediate(drain);
    else if (timer) timer.refresh();
    else timer = setTimeout(drain, BATCH_MS);
  };
  let queuedBytes = 0;
  let writing = false;
  let scheduled = false;
  let dropped = 0;
  let lastDropReport = 0;
  let closed = false;
  let idleWaiters: Array<() => void> = [];
  let reopenPending = false;

  const reportDrops = (force = false) => {
    if (dropped === 0) return;
    const now = Date.now();
    if (!force && now - lastDropReport < 5000) return;
    lastDropReport = now;
    log.error(`${label}: write queue full (${maxPending} bytes), dropped ${dropped} lines`);
    dropped = 0;
  };

  const settle = () => {
    if (writing || scheduled || queue.length) return;
    const w = idleWaiters;
    idleWaiters = [];
    for (const f of w) f();
  };

  const writeChunk = (data: string, done: (err?: Error | null) => void) => {
    if (forward) return forward(data, done);
    if (toStdout) {
      const ok = process.stdout.write(data);
      if (ok) done();
      else process.stdout.once('drain', () => done());
      return;
    }
    if (reopenPending) {
      reopenPending = false;
      if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* already closed */ } }
      open();
    } else if (fd === undefined) open();
    if (fd === undefined) return done(new Error(openError ?? 'file not open'));
    const buf = Buffer.from(data, 'utf8');
    const fdNow = fd;
    const writeFrom = (off: number) => {
      fs.write(fdNow, buf, off, buf.length - off, null, (err, n) => {
        if (err) return done(err);
        if (off + n < buf.length) return writeFrom(off + n);
        done();
      });
    };
    writeFrom(0);
  };

  const drain = () => {
    if (!scheduled) return;
    scheduled = false;
    if (writing) return;
    if (!queue.length) return settle();
    const data = queue.length === 1 ? queue[0]! : queue.join('');
    queue = [];
    queuedBytes = 0;
    writing = true;
    writeChunk(data, (err) => {
      writing = false;
      if (err) log.error(`failed to write ${label}: ${err.message}`);
      reportDrops();
      if (queue.length) schedule();
      else settle();
    });
  };

  const unregister = toStdout || forward ? () => {} : registerReopen(() => {
    reopenPending = true;
    if (!writing && !queue.length && fd !== undefined) {
      // nothing in flight: reopen right away so the new file exists
      reopenPending = false;
      try { fs.closeSync(fd); } catch { /* ignore */ }
      open();
    }
  });

  return {
    target: toStdout ? 'stdout' : file,
    push(line) {
      if (closed) return false;
      if (queuedBytes + line.length > maxPending && queue.length) {
        dropped++;
        reportDrops();
        return false;
      }
      queue.push(line);
      queuedBytes += line.length;
      if (!writing && (!scheduled || queuedBytes >= BATCH_BYTES)) schedule();
      return true;
    },
    flush() {
      if (!writing && !scheduled && !queue.length) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        if (!writing && !scheduled) {
          scheduled = true;
          drain();
        }
      });
    },
    reopen() {
      reopenPending = true;
    },
    async close() {
      if (closed) return;
      await this.flush();
      closed = true;
      reportDrops(true);
      unregister();
      if (fd !== undefined) {
        const f = fd;
        fd = undefined;
        await new Promise<void>((resolve) => fs.close(f, () => resolve()));
      }
    },
  };
}
