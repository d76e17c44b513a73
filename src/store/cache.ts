// What the stores share: the in-memory copy of every item (snapshot, get and
// list read it without I/O) and the change feed (R-GEN-15, R-GEN-16).
import { log } from '../core/log.js';
import type { JsonObject } from '../core/types.js';
import type { ChangeEvent, ConfigStore, PutOptions, StoredItem } from './types.js';

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export abstract class CachedStore implements ConfigStore {
  protected readonly items = new Map<string, StoredItem>();
  protected readonly listeners = new Set<(ev: ChangeEvent) => void>();

  abstract open(): Promise<void>;
  abstract put(key: string, value: JsonObject, opts?: PutOptions): Promise<StoredItem>;
  abstract delete(keys: string[]): Promise<string[]>;
  abstract nextId(): Promise<string>;
  abstract close(): Promise<void>;

  snapshot(): ReadonlyMap<string, StoredItem> {
    return this.items;
  }

  async get(key: string): Promise<StoredItem | undefined> {
    return this.items.get(key);
  }

  async list(prefix: string): Promise<StoredItem[]> {
    const out: StoredItem[] = [];
    for (const [k, v] of this.items) if (k.startsWith(prefix)) out.push(v);
    return out.sort((a, b) => byteOrder(a.key, b.key));
  }

  onChange(listener: (ev: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** call every listener; one that throws is logged and does not stop the others */
  protected emit(ev: ChangeEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        log.error(`store change listener failed: ${(err as Error).stack ?? err}`);
      }
    }
  }
}
