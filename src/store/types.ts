// The configuration store behind the Admin API and the runtime (R-GEN-15,
// R-GEN-16). Keys are APISIX item keys with the logical `/apisix` prefix:
// `/apisix/routes/1`, `/apisix/consumers/jack/credentials/c1`, ... An etcd
// store maps `/apisix` to its configured prefix.
import type { JsonObject } from '../core/types.js';

export interface StoredItem {
  key: string;
  value: JsonObject;
  createdIndex: number;
  modifiedIndex: number;
}

export type ChangeEvent =
  | { type: 'put'; item: StoredItem }
  | { type: 'delete'; key: string; revision: number }
  /** the whole content may have changed (initial load, resync after reconnect) */
  | { type: 'reset' };

export interface PutOptions {
  /** seconds until the item expires (R-ADM-12) */
  ttl?: number;
}

/**
 * Turns item values between the form a store writes (disk, etcd) and the one
 * it keeps in memory and hands out (R-SEC-10: encrypted fields). Both return
 * the very same object when there is nothing to change.
 */
export interface ValueCodec {
  encode(key: string, value: JsonObject): JsonObject;
  decode(key: string, value: JsonObject): JsonObject;
}

/** Thrown when the backing service cannot be reached: the Admin API answers 503 (CONTRACT). */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export interface ConfigStore {
  /** load existing content; after it, snapshot() is complete */
  open(): Promise<void>;
  /** every item currently known, from the local cache (no I/O) */
  snapshot(): ReadonlyMap<string, StoredItem>;
  get(key: string): Promise<StoredItem | undefined>;
  /** items whose key starts with `prefix`, ascending by key (byte-wise) */
  list(prefix: string): Promise<StoredItem[]>;
  /** create or replace; durable (and visible in snapshot()) before it resolves */
  put(key: string, value: JsonObject, opts?: PutOptions): Promise<StoredItem>;
  /** delete these keys atomically; resolves to the keys that existed */
  delete(keys: string[]): Promise<string[]>;
  /** a new POST id: 20 decimal digits, zero-padded, strictly increasing (R-ADM-17) */
  nextId(): Promise<string>;
  /** the change feed: called after each change is applied to snapshot() */
  onChange(listener: (ev: ChangeEvent) => void): () => void;
  close(): Promise<void>;
}
