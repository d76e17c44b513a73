// Picks the store for deployment.role_traditional.config_provider: the
// embedded LocalStore (default) or etcd. The etcd module (and its gRPC
// client) is loaded only when etcd is configured.
import type { GatewayConfig } from '../config/types.js';
import { LocalStore } from './local.js';
import type { ChangeEvent, ConfigStore, PutOptions, StoredItem, ValueCodec } from './types.js';
import { KeyringCipher } from './keyring-cipher.js';
import { createSecretCodec, type EncryptFieldsOf } from './secret-fields.js';
import type { JsonObject } from '../core/types.js';

export { LocalStore } from './local.js';

/** A ConfigStore whose implementation is imported and constructed in open(). */
class LazyStore implements ConfigStore {
  private inner?: ConfigStore;
  private readonly pending = new Set<(ev: ChangeEvent) => void>();
  private readonly unsubscribers = new Map<(ev: ChangeEvent) => void, () => void>();

  constructor(private readonly make: () => Promise<ConfigStore>) {}

  private get store(): ConfigStore {
    if (!this.inner) throw new Error('store is not open');
    return this.inner;
  }

  async open(): Promise<void> {
    if (!this.inner) {
      const inner = await this.make();
      for (const l of this.pending) this.unsubscribers.set(l, inner.onChange(l));
      this.pending.clear();
      this.inner = inner;
    }
    await this.inner.open();
  }

  snapshot(): ReadonlyMap<string, StoredItem> {
    return this.inner ? this.inner.snapshot() : new Map();
  }
  get(key: string) { return this.store.get(key); }
  list(prefix: string) { return this.store.list(prefix); }
  put(key: string, value: JsonObject, opts?: PutOptions) { return this.store.put(key, value, opts); }
  delete(keys: string[]) { return this.store.delete(keys); }
  nextId() { return this.store.nextId(); }

  onChange(listener: (ev: ChangeEvent) => void): () => void {
    if (this.inner) return this.inner.onChange(listener);
    this.pending.add(listener);
    return () => {
      this.pending.delete(listener);
      this.unsubscribers.get(listener)?.();
      this.unsubscribers.delete(listener);
    };
  }

  async close(): Promise<void> {
    await this.inner?.close();
  }
}

export interface CreateStoreOptions {
  /** R-SEC-10: the stored form of values (secretCodecFor) */
  codec?: ValueCodec;
}

/** the store's codec for apisix.data_encryption (undefined when off; the keyring must be filled: config/keyring.ts) */
export function secretCodecFor(config: GatewayConfig, fieldsOf: EncryptFieldsOf): ValueCodec | undefined {
  const de = config.apisix?.data_encryption;
  if (!de?.enable_encrypt_fields || config.deployment.config_provider === 'yaml') return undefined;
  return createSecretCodec(new KeyringCipher(de.keyring), fieldsOf);
}

export function createStore(config: GatewayConfig, opts: CreateStoreOptions = {}): ConfigStore {
  const d = config.deployment;
  const { codec } = opts;
  if (d.config_provider === 'etcd') {
    return new LazyStore(async () => {
      const { EtcdStore } = await import('./etcd.js');
      return new EtcdStore(config, { codec });
    });
  }
  return new LocalStore(d.data_dir, { compactEvery: d.compact_every, codec });
}
