// R-SEC-10: the data_encryption keyring when config.yaml sets none. A random
// 32-byte key (AES-256-CBC) is generated at the first start and kept in
// <data_dir>/keyring.json (mode 0600, beside admin_keys.json); later starts
// reuse it, so what was encrypted stays readable. APISIX's published default
// keys are never used: anyone could decrypt with them. (With etcd, nodes
// share the data, so config.yaml must set the keyring: normalize.ts.)
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from './admin-key.js';
import type { GatewayConfig } from './types.js';

export const KEYRING_FILE = 'keyring.json';

/** 24 random bytes as base64url: exactly 32 characters, 192 bits of entropy */
export function generateKeyringKey(): string {
  return randomBytes(24).toString('base64url');
}

/** the keys kept in a keyring.json (undefined when the file does not exist; throws when it is unusable) */
export function readKeyringFile(file: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as { keyring?: unknown };
  const keys = parsed?.keyring;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && (Buffer.byteLength(k) === 16 || Buffer.byteLength(k) === 32))) {
    throw new Error('expected {"keyring": [keys of 16 or 32 bytes]}');
  }
  return keys as string[];
}

/** fill config.apisix.data_encryption.keyring in place when encryption is on and no key is configured */
export function ensureKeyring(config: GatewayConfig, print: (line: string) => void): void {
  const de = config.apisix.data_encryption;
  // R-SA-1: as APISIX, a standalone file is read as written (nothing is encrypted)
  if (!de?.enable_encrypt_fields || de.keyring.length > 0 || config.deployment.config_provider === 'yaml') return;
  const file = path.join(config.deployment.data_dir, KEYRING_FILE);
  let keys: string[] | undefined;
  try {
    keys = readKeyringFile(file);
  } catch (err) {
    throw new Error(`cannot read the generated data_encryption keyring in ${file}: ${(err as Error).message}`);
  }
  if (!keys) {
    keys = [generateKeyringKey()];
    writeFileAtomicSync(file, JSON.stringify({ keyring: keys }, null, 2) + '\n');
    print(`generated a data_encryption keyring in ${file} (keep it: the stored secrets cannot be read without it)`);
  }
  de.keyring = keys;
}
