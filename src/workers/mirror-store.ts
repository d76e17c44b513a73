// A worker's view of the configuration store (R-WRK-2): a read-only copy of
// the primary's store, loaded from the `init` snapshot and kept current by
// the change feed. The RuntimeHolder compiles from it exactly as it does
// from a real store; writes belong to the primary (the Admin API lives there).
import type { ChangeEvent, ConfigStore, StoredItem } from '../store/types.js';

export class MirrorStore implements ConfigStore {
  private readonly items = new Map<string, StoredItem>();
  private readonly listeners = new Set<(ev: ChangeEvent) => void>();

  constructor(items: StoredItem[] = []) {
    for (const it of items) this.items.set(it.key, it);
  }

  /** apply one change of the primary's feed and tell the listeners */
  apply(ev: ChangeEvent, items?: StoredItem[]): void {
    if (ev.type === 'put') this.items.set(ev.item.key, ev.item);
    else if (ev.type === 'delete') this.items.delete(ev.key);
    else {
      this.items.clear();
      for (const it of items ?? []) this.items.set(it.key, it);
    }
    for (const l of this.listeners) l(ev);
  }

  async open(): Promise<void> {}

  snapshot(): ReadonlyMap<string, StoredItem> {
    return this.items;
  }

  async get(key: string): Promise<StoredItem | undefined> {
    return this.items.get(key);
  }

  async list(prefix: string): Promise<StoredItem[]> {
    const out: StoredItem[] = [];
    for (const it of this.items.values()) if (it.key.startsWith(prefix)) out.push(it);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async put(): Promise<StoredItem> {
    throw new Error('a worker cannot write the configuration store');
  }

  async delete(): Promise<string[]> {
    throw new Error('a worker cannot write the configuration store');
  }

  async nextId(): Promise<string> {
    throw new Error('a worker cannot write the configuration store');
  }

  onChange(listener: (ev: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
