// The etcd v3 configuration store (`config_provider: etcd`, R-GEN-16).
//
// Layout (APISIX's): the logical item key `/apisix/routes/1` lives at
// `<deployment.etcd.prefix>/routes/1`; the value is the JSON of the item's
// value; createdIndex/modifiedIndex are etcd's create/mod revisions. POST ids
// come from the revision of a write to `<prefix>/gen_id`, zero-padded to 20
// digits (as APISIX does).
//
// Cache: open() reads the whole prefix, then one watch (from the next
// revision) keeps snapshot() up to date and feeds onChange. put()/delete()
// apply their own result to the snapshot as soon as etcd has acknowledged
// it, so the writing node is live when the Admin API answers; the watch
// event for the same revision is then skipped (per-key revision guard).
//
// etcd unreachable: reads are served from the snapshot; writes reject with
// StoreUnavailableError within WRITE_TIMEOUT_MS (the Admin API answers 503).
// When the watch breaks, a reconnect loop polls etcd; once it answers, the
// snapshot is rebuilt from a full read, a `reset` event is emitted and a new
// watch starts at the next revision.
import { Etcd3, type IKeyValue, type IOptions, type Watcher } from 'etcd3';
import type { GatewayConfig } from '../config/types.js';
import type { JsonObject } from '../core/types.js';
import { log } from '../core/log.js';
import { withTimeout } from '../core/timeout.js';
import { CachedStore } from './cache.js';
import { StoreUnavailableError, type PutOptions, type StoredItem, type ValueCodec } from './types.js';

const LOGICAL_PREFIX = '/apisix';
/** upper bound for one write (CONTRACT: 503 within 5 s) */
const WRITE_TIMEOUT_MS = 4000;
const RECONNECT_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 1000;
const WATCH_TIMEOUT_MS = 5000;

/** item keys the store exposes (relative to the prefix) */
const ITEM_KEY = /^\/(routes|services|upstreams|global_rules|consumers)\/[^/]+$|^\/consumers\/[^/]+\/credentials\/[^/]+$/;

/** a cockatiel-compatible policy that just runs the call (no breaker, no retry) */
const passThrough = {
  execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }));
  },
};

/** retry a recoverable failure on the next host (several etcd endpoints), no waiting */
function nextHostRetry(attempts: number) {
  return {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
      let last: unknown;
      for (let i = 0; i < attempts; i++) {
        try {
          return await fn({ signal: signal ?? new AbortController().signal });
        } catch (err) {
          last = err;
          if (!isUnavailable(err)) throw err;
        }
      }
      throw last;
    },
  };
}

function constantBackoff(ms: number) {
  const b = { duration: ms, next: () => b };
  return b;
}

function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; constructor?: { name?: string } };
  const name = e?.constructor?.name ?? e?.name ?? '';
  const msg = e?.message ?? '';
  return (
    /GRPCUnavailableError|GRPCDeadlineExceededError|GRPCCancelledError|GRPCGenericError|GRPCInternalError|ClientClosedError|BrokenCircuitError/.test(name) ||
    /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|No connection established|Deadline exceeded|Connection dropped|Broken circuit/i.test(msg)
  );
}

/** `p`, or a StoreUnavailableError when etcd has not answered within `ms` */
function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(p, ms, () => new StoreUnavailableError(`etcd did not answer ${what} within ${ms} ms`));
}

export interface EtcdStoreOptions {
  /** per-write timeout in ms (default min(deployment.etcd.timeout, 4 s)) */
  writeTimeoutMs?: number;
  /** R-SEC-10: what is written to etcd differs from what is kept in memory */
  codec?: ValueCodec;
}

export class EtcdStore extends CachedStore {
  private readonly client: Etcd3;
  private readonly prefix: string;
  /** last revision applied per logical key (puts and deletes) */
  private readonly keyRev = new Map<string, number>();
  /** revision of the last full read: older events are already in it */
  private floor = 0;
  private watcher?: Watcher;
  private connected = false;
  private reconnecting?: Promise<void>;
  private closed = false;
  private readonly writeTimeoutMs: number;
  private readonly openTimeoutMs: number;
  private readonly codec?: ValueCodec;

  constructor(readonly config: GatewayConfig, opts: EtcdStoreOptions = {}) {
    super();
    const etcd = config.deployment.etcd;
    this.prefix = etcd.prefix.replace(/\/+$/, '');
    const timeoutMs = Math.max(1, etcd.timeout) * 1000;
    this.writeTimeoutMs = opts.writeTimeoutMs ?? Math.min(timeoutMs, WRITE_TIMEOUT_MS);
    this.openTimeoutMs = timeoutMs;
    this.codec = opts.codec;
    const hosts = etcd.host.map((h) => h.replace(/\/+$/, ''));
    const options: IOptions = {
      hosts,
      dialTimeout: 1000,
      grpcOptions: {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5000,
      },
      faultHandling: {
        host: () => passThrough as never,
        global: nextHostRetry(Math.max(1, hosts.length)) as never,
        watchBackoff: constantBackoff(RECONNECT_INTERVAL_MS) as never,
      },
    };
    if (etcd.user) options.auth = { username: etcd.user, password: etcd.password ?? '' };
    this.client = new Etcd3(options);
  }

  // ---- key mapping -------------------------------------------------------

  private toEtcd(key: string): string {
    if (!key.startsWith(LOGICAL_PREFIX + '/')) throw new Error(`not an item key: ${key}`);
    return this.prefix + key.slice(LOGICAL_PREFIX.length);
  }

  /** the logical key of an etcd key, or undefined when it is not an item key */
  private toLogical(etcdKey: string): string | undefined {
    if (!etcdKey.startsWith(this.prefix + '/')) return undefined;
    const rest = etcdKey.slice(this.prefix.length);
    return ITEM_KEY.test(rest) ? LOGICAL_PREFIX + rest : undefined;
  }

  private decode(kv: IKeyValue): StoredItem | undefined {
    const key = this.toLogical(kv.key.toString());
    if (!key) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch {
      log.warn(`etcd: ignoring ${kv.key.toString()}: the value is not JSON`);
      return undefined;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return {
      key,
      value: this.codec ? this.codec.decode(key, value as JsonObject) : (value as JsonObject),
      createdIndex: Number(kv.create_revision),
      modifiedIndex: Number(kv.mod_revision),
    };
  }

  private callOptions(ms: number) {
    return { deadline: Date.now() + ms };
  }

  private async rpc<T>(what: string, call: () => Promise<T>, ms = this.writeTimeoutMs): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('the store is closed');
    try {
      return await timeout(call(), ms, what);
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        this.suspect();
        throw err;
      }
      if (isUnavailable(err)) {
        this.suspect();
        throw new StoreUnavailableError(`etcd is unreachable (${what}): ${(err as Error).message}`);
      }
      throw err;
    }
  }

  // ---- loading and watching ---------------------------------------------

  /** read everything under the prefix: the items and the revision of the read */
  private async readAll(ms: number): Promise<{ items: StoredItem[]; revision: number }> {
    const start = Buffer.from(this.prefix + '/');
    const end = Buffer.from(this.prefix + '0'); // '/' + 1
    const res = await timeout(this.client.kv.range({ key: start, range_end: end }, this.callOptions(ms)), ms + 100, 'a read');
    const items: StoredItem[] = [];
    for (const kv of res.kvs) {
      const item = this.decode(kv);
      if (item) items.push(item);
    }
    return { items, revision: Number(res.header.revision) };
  }

  private replaceAll(items: StoredItem[], revision: number): void {
    this.items.clear();
    this.keyRev.clear();
    for (const it of items) {
      this.items.set(it.key, it);
      this.keyRev.set(it.key, it.modifiedIndex);
    }
    this.floor = revision;
  }

  async open(): Promise<void> {
    const deadline = Date.now() + this.openTimeoutMs;
    for (;;) {
      try {
        const { items, revision } = await this.readAll(PROBE_TIMEOUT_MS * 2);
        this.replaceAll(items, revision);
        break;
      } catch (err) {
        if (Date.now() > deadline || this.closed) {
          throw new StoreUnavailableError(`cannot read the configuration from etcd ${this.config.deployment.etcd.host.join(', ')}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    log.info(`etcd store: ${this.items.size} items loaded from ${this.config.deployment.etcd.host.join(', ')} prefix ${this.prefix}`);
    try {
      await this.startWatch();
      this.connected = true;
    } catch (err) {
      // loaded but not watching yet: keep trying in the background (full resync when it works)
      log.warn(`etcd store: cannot watch ${this.prefix} yet (${(err as Error).message}); retrying`);
      this.reconnecting ??= this.reconnect().finally(() => (this.reconnecting = undefined));
    }
  }

  private async startWatch(): Promise<void> {
    const creating = this.client.watch().prefix(this.prefix + '/').startRevision(String(this.floor + 1)).create();
    let watcher: Watcher;
    try {
      watcher = await timeout(creating, WATCH_TIMEOUT_MS, 'a watch');
    } catch (err) {
      // a watcher that connects after we gave up is cancelled, not leaked
      creating.then((w) => w.cancel()).catch(() => {});
      throw err;
    }
    if (this.closed) {
      void watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on('put', (kv) => this.onWatchPut(kv));
    watcher.on('delete', (kv) => this.onWatchDelete(kv));
    watcher.on('disconnected', (err) => this.lost(watcher, err));
    watcher.on('error', (err) => this.lost(watcher, err));
  }

  private onWatchPut(kv: IKeyValue): void {
    const item = this.decode(kv);
    if (!item) return;
    this.applyPut(item);
  }

  private onWatchDelete(kv: IKeyValue): void {
    const key = this.toLogical(kv.key.toString());
    if (!key) return;
    this.applyDelete(key, Number(kv.mod_revision));
  }

  private fresh(key: string, revision: number): boolean {
    return revision > (this.keyRev.get(key) ?? this.floor);
  }

  private applyPut(item: StoredItem): void {
    if (!this.fresh(item.key, item.modifiedIndex)) return;
    this.keyRev.set(item.key, item.modifiedIndex);
    this.items.set(item.key, item);
    this.emit({ type: 'put', item });
  }

  private applyDelete(key: string, revision: number): void {
    if (!this.fresh(key, revision)) return;
    this.keyRev.set(key, revision);
    if (this.items.delete(key)) this.emit({ type: 'delete', key, revision });
  }

  /** a write failed for lack of etcd: make sure the watch is being re-established */
  private suspect(): void {
    if (this.connected && this.watcher) this.lost(this.watcher, new Error('a request to etcd failed'));
  }

  private lost(watcher: Watcher, err: unknown): void {
    if (this.closed || watcher !== this.watcher) return;
    this.watcher = undefined;
    this.connected = false;
    watcher.removeAllListeners();
    watcher.on('error', () => {});
    void watcher.cancel().catch(() => {});
    log.warn(`etcd store: lost the connection to etcd (${(err as Error)?.message ?? err}); serving the last known configuration`);
    this.reconnecting ??= this.reconnect().finally(() => (this.reconnecting = undefined));
  }

  private async reconnect(): Promise<void> {
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, RECONNECT_INTERVAL_MS));
      if (this.closed) return;
      try {
        const { items, revision } = await this.readAll(PROBE_TIMEOUT_MS * 2);
        if (this.closed) return;
        this.replaceAll(items, revision);
        this.emit({ type: 'reset' });
        await this.startWatch();
        this.connected = true;
        log.info(`etcd store: reconnected to etcd, ${items.length} items resynchronized at revision ${revision}`);
        return;
      } catch {
        /* still down: poll again */
      }
    }
  }

  // ---- ConfigStore -------------------------------------------------------

  async put(key: string, value: JsonObject, opts: PutOptions = {}): Promise<StoredItem> {
    const etcdKey = this.toEtcd(key);
    const deadline = Date.now() + this.writeTimeoutMs;
    let lease: string | undefined;
    if (opts.ttl !== undefined && opts.ttl > 0) {
      const ttl = Math.max(1, Math.ceil(opts.ttl));
      const granted = await this.rpc('a lease grant', () => this.client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 }, this.callOptions(this.writeTimeoutMs)));
      lease = String(granted.ID);
    }
    const left = Math.max(100, deadline - Date.now());
    const text = JSON.stringify(this.codec ? this.codec.encode(key, value) : value);
    const res = await this.rpc(
      'a write',
      () =>
        this.client.kv.put(
          { key: Buffer.from(etcdKey), value: Buffer.from(text), lease, prev_kv: true },
          this.callOptions(left),
        ),
      left,
    );
    const revision = Number(res.header.revision);
    const prev = res.prev_kv;
    const item: StoredItem = {
      key,
      value,
      createdIndex: prev && prev.create_revision ? Number(prev.create_revision) : revision,
      modifiedIndex: revision,
    };
    this.applyPut(item);
    return this.items.get(key) ?? item;
  }

  async delete(allKeys: string[]): Promise<string[]> {
    const keys = [...new Set(allKeys)];
    if (keys.length === 0) return [];
    const res = await this.rpc('a delete', () =>
      this.client.kv.txn(
        {
          compare: [],
          success: keys.map((k) => ({ request_delete_range: { key: Buffer.from(this.toEtcd(k)) } })),
          failure: [],
        },
        this.callOptions(this.writeTimeoutMs),
      ),
    );
    const revision = Number(res.header.revision);
    const existed: string[] = [];
    res.responses.forEach((r, i) => {
      const n = Number(r.response_delete_range?.deleted ?? 0);
      if (n > 0) existed.push(keys[i]!);
    });
    for (const k of existed) this.applyDelete(k, revision);
    return existed;
  }

  async nextId(): Promise<string> {
    const res = await this.rpc('an id request', () =>
      this.client.kv.put({ key: Buffer.from(this.prefix + '/gen_id'), value: Buffer.from('1') }, this.callOptions(this.writeTimeoutMs)),
    );
    return String(Number(res.header.revision)).padStart(20, '0');
  }

  /** true while the watch is connected (for diagnostics) */
  isConnected(): boolean {
    return this.connected;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => {});
      await timeout(w.cancel(), 500, 'a watch cancel').catch(() => {});
    }
    this.client.close();
  }
}
