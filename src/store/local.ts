// The embedded configuration store (`config_provider: local`, R-GEN-15).
//
// Files under data_dir:
//   store.json     snapshot {version, revision, idSeq, items[]}, replaced
//                  atomically (temp file, fsync, rename, fsync dir)
//   store.journal  JSON lines appended after the snapshot, one per write,
//                  fdatasync'd before the write resolves
//   store.lock     pid of the process using the directory
// On open the journal is replayed over the snapshot (records with a revision
// the snapshot already holds are skipped; a torn last line is dropped) and
// compacted into a new snapshot. Compaction also runs every `compactEvery`
// records (`deployment.local.compact_every`); a failed one is retried only
// after another `compactEvery` records, and its temp file is removed.
// A data directory that cannot be written (read-only, disk full) still
// opens: the store serves what it loaded and rejects writes with
// StoreUnavailableError (Admin API 503) until a write finds it writable. Writes are serialized through one queue with group commit (the
// writes queued during one fdatasync share the next one); each write is
// applied to the in-memory map only once it is on disk, and listeners are
// called synchronously right after, before the write's promise resolves.
import { closeSync, fsyncSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { log } from '../core/log.js';
import type { JsonObject } from '../core/types.js';
import { CachedStore } from './cache.js';
import { StoreUnavailableError, type PutOptions, type StoredItem, type ValueCodec } from './types.js';

type JournalRecord =
  | { op: 'put'; key: string; value: JsonObject; rev: number; created: number; exp?: number }
  | { op: 'del'; keys: string[]; rev: number }
  | { op: 'id'; seq: number };

interface SnapshotFile {
  version: 1;
  revision: number;
  idSeq: number;
  items: Array<StoredItem & { expiresAt?: number }>;
}

interface PendingOp {
  prepare(v: StagedView): JournalRecord | null;
  finish(rec: JournalRecord | null, applied?: StoredItem): unknown;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** the store as the writes of the batch being built will leave it */
class StagedView {
  private readonly staged = new Map<string, StoredItem | null>();
  constructor(private readonly items: ReadonlyMap<string, StoredItem>, private revision: number, public idSeq: number) {}
  get(key: string): StoredItem | undefined {
    return this.staged.has(key) ? (this.staged.get(key) ?? undefined) : this.items.get(key);
  }
  isStaged(key: string): boolean {
    return this.staged.has(key);
  }
  stage(key: string, item: StoredItem | null): void {
    this.staged.set(key, item);
  }
  nextRevision(): number {
    return ++this.revision;
  }
}

export interface LocalStoreOptions {
  /** compact the journal into the snapshot after this many records (default 1000) */
  compactEvery?: number;
  /** R-SEC-10: what is written to the files differs from what is kept in memory */
  codec?: ValueCodec;
}

export const SNAPSHOT_FILE = 'store.json';
export const JOURNAL_FILE = 'store.journal';
export const LOCK_FILE = 'store.lock';
export const SNAPSHOT_TMP = 'store.json.tmp';

const MAX_TIMER = 2 ** 31 - 1;

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // a recycled pid that is not a node process does not hold the lock
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return true;
  }
}

export class LocalStore extends CachedStore {
  readonly dir: string;
  private readonly compactEvery: number;
  private readonly expiry = new Map<string, number>();
  private readonly codec?: ValueCodec;
  /** the on-disk form of items whose value differs from the one in memory (encrypted fields) */
  private readonly stored = new Map<string, JsonObject>();
  /** the in-memory form of the records put() builds (their `value` is the on-disk form) */
  private readonly plainOf = new WeakMap<JournalRecord, JsonObject>();
  private revision = 0;
  private idSeq = 0;
  private journal?: FileHandle;
  private journalSize = 0;
  private journalRecords = 0;
  /** journalRecords at which the next compaction runs */
  private compactAt: number;
  private pending: PendingOp[] = [];
  private flushing?: Promise<void>;
  private closing = false;
  private opened = false;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private broken?: Error;

  constructor(dir: string, opts: LocalStoreOptions = {}) {
    super();
    this.dir = path.resolve(dir);
    this.compactEvery = opts.compactEvery ?? 1000;
    this.compactAt = this.compactEvery;
    this.codec = opts.codec;
  }

  /** the in-memory form of a value read from the files; remembers the on-disk form when they differ */
  private fromDisk(key: string, raw: JsonObject, plain?: JsonObject): JsonObject {
    const value = plain ?? (this.codec ? this.codec.decode(key, raw) : raw);
    if (value !== raw) this.stored.set(key, raw);
    else this.stored.delete(key);
    return value;
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  /** the store-wide revision counter (last createdIndex/modifiedIndex handed out) */
  get currentRevision(): number {
    return this.revision;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true });
    this.checkLock();
    await this.load();
    try {
      await this.openForWriting();
    } catch (err) {
      if (!isUnwritable(err)) {
        this.unlock();
        throw err;
      }
      this.broken = err as Error;
      log.error(`configuration store ${this.dir} is not writable, serving what it holds without writes: ${(err as Error).message}`);
    }
    this.opened = true;
    this.scheduleExpiry();
  }

  /** take the lock, open the journal and fold it into a new snapshot */
  private async openForWriting(): Promise<void> {
    this.writeLock();
    try {
      // cut a torn or rolled-back tail so appends start after the last good record
      await truncate(this.file(JOURNAL_FILE), this.journalSize).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.journal = await open(this.file(JOURNAL_FILE), 'a');
      await rm(this.file(SNAPSHOT_TMP), { force: true });
    } catch (err) {
      await this.journal?.close().catch(() => {});
      this.journal = undefined;
      this.unlock();
      throw err;
    }
    try {
      await this.compact();
    } catch (err) {
      // the journal is complete: writes can go on, the fold is retried later
      log.error(`store compaction failed (the journal is kept): ${(err as Error).message}`);
      this.compactAt = this.journalRecords + this.compactEvery;
    }
  }

  private checkLock(): void {
    const file = this.file(LOCK_FILE);
    let holder = NaN;
    try {
      holder = Number(readFileSync(file, 'utf8').trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (pidAlive(holder)) throw new Error(`data_dir ${this.dir} is in use by process ${holder} (${file})`);
  }

  private writeLock(): void {
    writeFileSync(this.file(LOCK_FILE), `${process.pid}\n`);
  }

  private unlock(): void {
    const file = this.file(LOCK_FILE);
    try {
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) unlinkSync(file);
    } catch { /* already gone */ }
  }

  private async load(): Promise<void> {
    const snapFile = this.file(SNAPSHOT_FILE);
    let snap: SnapshotFile | undefined;
    try {
      snap = JSON.parse(await readFile(snapFile, 'utf8')) as SnapshotFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`cannot load ${snapFile}: ${(err as Error).message}`);
      }
    }
    if (snap) {
      if (snap.version !== 1 || !Array.isArray(snap.items)) throw new Error(`cannot load ${snapFile}: unknown format`);
      this.revision = snap.revision;
      this.idSeq = snap.idSeq;
      for (const it of snap.items) {
        this.items.set(it.key, { key: it.key, value: this.fromDisk(it.key, it.value), createdIndex: it.createdIndex, modifiedIndex: it.modifiedIndex });
        if (it.expiresAt !== undefined) this.expiry.set(it.key, it.expiresAt);
      }
    }
    const base = this.revision;
    const journalFile = this.file(JOURNAL_FILE);
    let text = '';
    try {
      text = await readFile(journalFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // only newline-terminated records were ever acknowledged: an unterminated
    // or unparsable last line is the tail of an interrupted write
    const lines = text.split('\n');
    let last = lines.length - 1;
    while (last >= 0 && lines[last]!.trim() === '') last--;
    let offset = 0;
    for (let i = 0; i <= last; i++) {
      const line = lines[i]!;
      const terminated = i < lines.length - 1;
      let rec: JournalRecord | undefined;
      if (line.trim()) {
        try {
          if (terminated) rec = JSON.parse(line) as JournalRecord;
        } catch { /* below */ }
        if (!rec) {
          if (i === last) {
            log.warn(`${journalFile}: dropped an incomplete last record (interrupted write)`);
            break;
          }
          throw new Error(`cannot load ${journalFile}: corrupt record at line ${i + 1}`);
        }
        if (rec.op === 'id') this.idSeq = Math.max(this.idSeq, rec.seq);
        else if (rec.rev > base) this.applyRecord(rec, false);
        this.journalRecords++;
      }
      offset += Buffer.byteLength(line) + 1;
    }
    this.journalSize = offset;
    // items whose ttl ran out while the process was down
    const now = Date.now();
    const due = [...this.expiry].filter(([, at]) => at <= now).map(([k]) => k);
    if (due.length) this.applyRecord({ op: 'del', keys: due, rev: this.revision + 1 }, false);
  }

  /** apply a journal record to memory; `emit` calls listeners */
  private applyRecord(rec: Exclude<JournalRecord, { op: 'id' }>, emit: boolean): StoredItem | undefined {
    this.revision = Math.max(this.revision, rec.rev);
    if (rec.op === 'put') {
      const value = this.fromDisk(rec.key, rec.value, this.plainOf.get(rec));
      const item: StoredItem = { key: rec.key, value, createdIndex: rec.created, modifiedIndex: rec.rev };
      this.items.set(rec.key, item);
      if (rec.exp !== undefined) this.expiry.set(rec.key, rec.exp);
      else this.expiry.delete(rec.key);
      if (emit) this.emit({ type: 'put', item });
      return item;
    } else {
      for (const key of rec.keys) {
        const existed = this.items.delete(key);
        this.expiry.delete(key);
        this.stored.delete(key);
        if (emit && existed) this.emit({ type: 'delete', key, revision: rec.rev });
      }
      return undefined;
    }
  }

  /**
   * Writes go through one queue. Operations queued while a batch is being
   * written form the next batch (group commit): their records are built in
   * call order against a staged view, appended with one write and one
   * fdatasync, then applied to memory (listeners run) and resolved.
   */
  private enqueue<T>(prepare: (v: StagedView) => JournalRecord | null, finish: (rec: JournalRecord | null, applied?: StoredItem) => T): Promise<T> {
    if (this.closing) return Promise.reject(new Error('store is closed'));
    if (!this.opened) return Promise.reject(new Error('store is not open'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ prepare, finish: finish as PendingOp['finish'], resolve: resolve as PendingOp['resolve'], reject });
      this.flushing ??= Promise.resolve().then(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0);
      if (this.broken && !(await this.recover())) {
        const err = new StoreUnavailableError(`configuration store unavailable: ${this.broken.message}`);
        for (const op of batch) op.reject(err);
        continue;
      }
      const view = new StagedView(this.items, this.revision, this.idSeq);
      const failed = new Map<number, Error>();
      const recs = batch.map((op, i) => {
        try {
          return op.prepare(view);
        } catch (err) {
          failed.set(i, err as Error);
          return null;
        }
      });
      const written = recs.filter((r): r is JournalRecord => r !== null);
      if (written.length) {
        try {
          await this.append(written);
        } catch (err) {
          for (const op of batch) op.reject(err as Error);
          continue;
        }
      }
      let expiring = false;
      recs.forEach((rec, i) => {
        const op = batch[i]!;
        const error = failed.get(i);
        if (error) return op.reject(error);
        try {
          let applied: StoredItem | undefined;
          if (rec?.op === 'id') this.idSeq = rec.seq;
          else if (rec) {
            applied = this.applyRecord(rec, true);
            if (rec.op === 'put' && rec.exp !== undefined) expiring = true;
          }
          op.resolve(op.finish(rec, applied));
        } catch (err) {
          op.reject(err as Error);
        }
      });
      if (expiring) this.scheduleExpiry();
      await this.afterWrite();
    }
    this.flushing = undefined;
  }

  private async append(recs: JournalRecord[]): Promise<void> {
    const text = recs.map((r) => JSON.stringify(r) + '\n').join('');
    const fh = this.journal!;
    try {
      // appendFile loops over short writes (a nearly full disk); write() would not
      await fh.appendFile(text);
      await fh.datasync();
    } catch (err) {
      // undo a partial write so the journal stays readable; if that fails too, stop writing
      try {
        await fh.truncate(this.journalSize);
      } catch {
        this.broken = err as Error;
      }
      throw new StoreUnavailableError(`cannot write ${this.file(JOURNAL_FILE)}: ${(err as Error).message}`);
    }
    this.journalSize += Buffer.byteLength(text);
    this.journalRecords += recs.length;
  }

  private async afterWrite(): Promise<void> {
    if (this.journalRecords >= this.compactAt) {
      try {
        await this.compact();
      } catch (err) {
        // not after every write: a full disk would make each one rewrite the snapshot
        log.error(`store compaction failed (the journal is kept, retried after ${this.compactEvery} more records): ${(err as Error).message}`);
        this.compactAt = this.journalRecords + this.compactEvery;
      }
    }
  }

  /** after a write error that could not be undone, or opened unwritable: try to write again */
  private async recover(): Promise<boolean> {
    await this.journal?.close().catch(() => {});
    this.journal = undefined;
    try {
      await this.openForWriting();
    } catch (err) {
      this.broken = err as Error;
      return false;
    }
    log.warn(`configuration store ${this.dir} is writable again`);
    this.broken = undefined;
    return true;
  }

  /** write the snapshot atomically, then empty the journal */
  private async compact(): Promise<void> {
    const snap: SnapshotFile = {
      version: 1,
      revision: this.revision,
      idSeq: this.idSeq,
      items: [...this.items.values()].map((it) => {
        const exp = this.expiry.get(it.key);
        const raw = this.stored.get(it.key);
        const out = raw ? { ...it, value: raw } : it;
        return exp === undefined ? out : { ...out, expiresAt: exp };
      }),
    };
    const file = this.file(SNAPSHOT_FILE);
    const tmp = this.file(SNAPSHOT_TMP);
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(snap));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
    syncDir(this.dir);
    await this.journal!.truncate(0);
    await this.journal!.sync();
    this.journalSize = 0;
    this.journalRecords = 0;
    this.compactAt = this.compactEvery;
  }

  put(key: string, value: JsonObject, opts: PutOptions = {}): Promise<StoredItem> {
    // a private copy: callers may keep mutating their object
    const copy = JSON.parse(JSON.stringify(value)) as JsonObject;
    const onDisk = this.codec ? this.codec.encode(key, copy) : copy;
    return this.enqueue(
      (v) => {
        const rev = v.nextRevision();
        const rec: JournalRecord = { op: 'put', key, value: onDisk, rev, created: v.get(key)?.createdIndex ?? rev };
        if (onDisk !== copy) this.plainOf.set(rec, copy);
        if (opts.ttl !== undefined) rec.exp = Date.now() + Math.max(0, opts.ttl) * 1000;
        v.stage(key, { key, value: copy, createdIndex: rec.created, modifiedIndex: rev });
        return rec;
      },
      (_rec, applied) => applied!,
    );
  }

  delete(keys: string[]): Promise<string[]> {
    return this.enqueue(
      (v) => {
        const existing = [...new Set(keys)].filter((k) => v.get(k));
        if (existing.length === 0) return null;
        for (const k of existing) v.stage(k, null);
        return { op: 'del', keys: existing, rev: v.nextRevision() };
      },
      (rec) => (rec?.op === 'del' ? rec.keys : []),
    );
  }

  nextId(): Promise<string> {
    return this.enqueue(
      (v) => ({ op: 'id', seq: ++v.idSeq }),
      (rec) => String((rec as { seq: number }).seq).padStart(20, '0'),
    );
  }

  /** R-ADM-12: delete items whose ttl ran out; one timer for the earliest */
  private scheduleExpiry(): void {
    if (this.closing || this.expiry.size === 0) return;
    const next = Math.min(...this.expiry.values());
    if (this.timer && next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.expire().then(
        () => this.scheduleExpiry(),
        (err: Error) => {
          if (this.closing) return;
          log.error(`deleting expired items failed: ${err.message}`);
          this.timer = setTimeout(() => this.scheduleExpiry(), 1000).unref();
        },
      );
    }, Math.min(MAX_TIMER, Math.max(0, next - Date.now())));
    this.timer.unref();
  }

  /** deletes what is due when the queue reaches it (a newer write in the same batch wins) */
  private expire(): Promise<void> {
    return this.enqueue(
      (v) => {
        const now = Date.now();
        const due = [...this.expiry].filter(([k, at]) => at <= now && !v.isStaged(k) && v.get(k)).map(([k]) => k);
        if (due.length === 0) return null;
        for (const k of due) v.stage(k, null);
        return { op: 'del', keys: due, rev: v.nextRevision() };
      },
      () => undefined,
    );
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    await this.flushing;
    await this.journal?.close().catch(() => {});
    this.journal = undefined;
    if (this.opened) this.unlock();
    this.listeners.clear();
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* best effort (not supported everywhere) */ }
}

/** errors that mean the data directory cannot be written now, not a broken store */
function isUnwritable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'EROFS' || code === 'ENOSPC' || code === 'EACCES' || code === 'EPERM' || code === 'EDQUOT' || code === 'EIO';
}
