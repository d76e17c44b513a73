// STUB (owner: etcd helper): the etcd v3 store (R-GEN-16). Replace freely;
// src/store/index.ts relies on `new EtcdStore(config)` implementing ConfigStore.
import type { GatewayConfig } from '../config/types.js';
import type { JsonObject } from '../core/types.js';
import type { ChangeEvent, ConfigStore, PutOptions, StoredItem } from './types.js';

export class EtcdStore implements ConfigStore {
  constructor(readonly config: GatewayConfig) {}
  async open(): Promise<void> { throw new Error('config_provider etcd: not implemented'); }
  snapshot(): ReadonlyMap<string, StoredItem> { return new Map(); }
  async get(_key: string): Promise<StoredItem | undefined> { throw new Error('not implemented'); }
  async list(_prefix: string): Promise<StoredItem[]> { throw new Error('not implemented'); }
  async put(_key: string, _value: JsonObject, _opts?: PutOptions): Promise<StoredItem> { throw new Error('not implemented'); }
  async delete(_keys: string[]): Promise<string[]> { throw new Error('not implemented'); }
  async nextId(): Promise<string> { throw new Error('not implemented'); }
  onChange(_listener: (ev: ChangeEvent) => void): () => void { return () => {}; }
  async close(): Promise<void> {}
}
