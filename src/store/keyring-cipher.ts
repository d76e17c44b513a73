// R-SEC-10: APISIX's data_encryption cipher (apisix/core/data_encryption.lua),
// so a store can be shared with an APISIX that has the same keyring. Each key
// is its own IV: 16 bytes select AES-128-CBC, 32 bytes AES-256-CBC (OpenSSL
// reads the first 16 bytes of the 32-byte IV buffer lua-resty-aes passes, so
// the IV is the key's first half). PKCS#7 padding, standard base64 output.
// Encryption is deterministic: the same value and key give the same text.
import { createCipheriv, createDecipheriv } from 'node:crypto';

interface Key {
  algorithm: 'aes-128-cbc' | 'aes-256-cbc';
  key: Buffer;
  iv: Buffer;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class KeyringCipher {
  private readonly keys: Key[];

  /** throws on a key that is neither 16 nor 32 bytes (config.yaml validation reports it first) */
  constructor(keyring: readonly string[]) {
    if (keyring.length === 0) throw new Error('the data_encryption keyring is empty');
    this.keys = keyring.map((k, i) => {
      const key = Buffer.from(k, 'utf8');
      if (key.length !== 16 && key.length !== 32) {
        throw new Error(`apisix.data_encryption.keyring[${i}]: expected a key of 16 or 32 bytes, got ${key.length} bytes`);
      }
      return { algorithm: key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv: key.subarray(0, 16) };
    });
  }

  /** base64 of the value encrypted with the first key */
  encrypt(value: string): string {
    const k = this.keys[0]!;
    const c = createCipheriv(k.algorithm, k.key, k.iv);
    return Buffer.concat([c.update(value, 'utf8'), c.final()]).toString('base64');
  }

  /**
   * The value decrypted by the first key that can, or undefined when none
   * can (or it is not base64 of whole blocks). A result that is not valid
   * UTF-8 counts as a failure: what was encrypted was a JSON string, and a
   * wrong key rarely yields valid padding and almost never valid text too.
   */
  decrypt(value: string): string | undefined {
    if (value.length === 0 || value.length % 4 !== 0 || !BASE64.test(value)) return undefined;
    const data = Buffer.from(value, 'base64');
    if (data.length % 16 !== 0) return undefined;
    for (const k of this.keys) {
      try {
        const d = createDecipheriv(k.algorithm, k.key, k.iv);
        return utf8.decode(Buffer.concat([d.update(data), d.final()]));
      } catch {
        // bad padding or not UTF-8: try the next key
      }
    }
    return undefined;
  }
}
