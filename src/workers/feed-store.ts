// The primary's configuration store as the Admin API sees it (R-WRK-2,
// R-GEN-10): the real store (embedded, etcd or file), whose every change is
// numbered and sent to the workers, and whose writes resolve only once every
// worker acknowledged the change they caused. So a write is live on every
// worker by the time the Admin API answers.
import type { JsonObject } from '../core/types.js';
import type { ChangeEvent, ConfigStore, PutOptions, StoredItem } from '../store/types.js';

export interface FeedTarget {
  /** send change `seq` to every worker */
  broadcast(seq: number, ev: ChangeEvent, items?: StoredItem[]): void;
  /** resolves when every worker acknowledged `seq` */
  acked(seq: number): Promise<void>;
}

export class FeedStore implements ConfigStore {
  /** the number of the last change */
  seq = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(readonly inner: ConfigStore, private readonly target: FeedTarget) {}

  /** start numbering and sending the inner store's changes (after open) */
  start(): void {
    this.unsubscribe ??= this.inner.onChange((ev) => {
      const seq = ++this.seq;
      this.target.broadcast(seq, ev, ev.type === 'reset' ? [...this.inner.snapshot().values()] : undefined);
    });
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  snapshot(): ReadonlyMap<string, StoredItem> {
    return this.inner.snapshot();
  }

  get(key: string): Promise<StoredItem | undefined> {
    return this.inner.get(key);
  }

  list(prefix: string): Promise<StoredItem[]> {
    return this.inner.list(prefix);
  }

  async put(key: string, value: JsonObject, opts?: PutOptions): Promise<StoredItem> {
    const item = await this.inner.put(key, value, opts);
    await this.target.acked(this.seq);
    return item;
  }

  async delete(keys: string[]): Promise<string[]> {
    const gone = await this.inner.delete(keys);
    await this.target.acked(this.seq);
    return gone;
  }

  nextId(): Promise<string> {
    return this.inner.nextId();
  }

  onChange(listener: (ev: ChangeEvent) => void): () => void {
    return this.inner.onChange(listener);
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.inner.close();
  }
}
