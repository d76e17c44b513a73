// R-GEN-14: admin key bootstrap. An entry of deployment.admin.admin_key with
// an empty key gets a random 32-char lowercase hex key, generated once and
// kept in <data_dir>/admin_keys.json (the user's config.yaml is never
// rewritten); later starts reuse it. The config object is updated in place.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { log } from '../core/log.js';
import type { GatewayConfig } from './types.js';

export const ADMIN_KEYS_FILE = 'admin_keys.json';

/** the generated keys kept in an admin_keys.json ({} when the file does not exist; throws when it is unreadable) */
export function readAdminKeys(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const parsed = JSON.parse(text) as unknown;
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${file}: expected a JSON object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' && v) out[k] = v;
  return out;
}

/** write-to-temp, fsync, rename: the file is either the old or the new one */
export function writeFileAtomicSync(file: string, text: string, mode = 0o600): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const dfd = openSync(path.dirname(file), 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* directory fsync is best effort */ }
}

export function generateAdminKey(): string {
  return randomBytes(16).toString('hex');
}

export function ensureAdminKeys(config: GatewayConfig, print: (line: string) => void): void {
  const admin = config.deployment.admin;
  if (config.deployment.role === 'data_plane') return; // R-SA-1: no Admin API
  if (!admin.admin_key_required) {
    log.warn('deployment.admin.admin_key_required is false: the Admin API accepts requests without a key');
  }
  const missing = admin.admin_key.filter((k) => !k.key);
  if (missing.length === 0) return;
  const file = path.join(config.deployment.data_dir, ADMIN_KEYS_FILE);
  let stored: Record<string, string>;
  try {
    stored = readAdminKeys(file);
  } catch (err) {
    throw new Error(`cannot read the generated admin keys in ${file}: ${(err as Error).message}`);
  }
  const generated: Array<[string, string]> = [];
  for (const entry of missing) {
    const known = stored[entry.name];
    if (known) {
      entry.key = known;
    } else {
      entry.key = stored[entry.name] = generateAdminKey();
      generated.push([entry.name, entry.key]);
    }
  }
  if (generated.length === 0) return;
  writeFileAtomicSync(file, JSON.stringify(stored, null, 2) + '\n');
  for (const [name, key] of generated) print(`generated admin key for "${name}": ${key}`);
}
