// `switchyard sync` and `switchyard dump` without the argument parsing:
// find the Admin API from the gateway's config, validate the declared
// resources as the Admin API would (everything before changing anything),
// diff against the running state, apply in a safe order, roll back what was
// applied when a write fails (R-DECL-14, R-DECL-30, R-DECL-31).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { GatewayConfig } from '../config/types.js';
import type { JsonObject } from '../core/types.js';
import { ADMIN_KEYS_FILE, readAdminKeys } from '../config/admin-key.js';
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import { validateResource } from '../admin/validate.js';
import { AdminClient } from './admin-client.js';
import { changeLine, computeDiff, type Change } from './diff.js';
import { dumpResources, type DumpResult } from './dump.js';
import { detectFormat, loadFiles, type Format } from './load.js';
import { COLLECTION, DeclarativeError, resourceKey, type Resource } from './model.js';

export interface Target {
  url: string;
  key?: string;
}

function hostFor(ip: string): string {
  if (ip === '0.0.0.0' || ip === '') return '127.0.0.1';
  if (ip === '::') return '[::1]';
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** the admin key: the first `role: admin` entry (a generated one is read from data_dir) */
export function adminKeyOf(config: GatewayConfig): string | undefined {
  const entry = config.deployment.admin.admin_key.find((k) => k.role === 'admin');
  if (!entry) return undefined;
  if (entry.key) return entry.key;
  try {
    const key = readAdminKeys(path.join(config.deployment.data_dir, ADMIN_KEYS_FILE))[entry.name];
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** the Admin API address and key from the gateway's configuration file */
export function targetFromConfig(file: string): Target {
  const { config } = loadConfig(file);
  if (!config.apisix.enable_admin) throw new Error(`${file}: apisix.enable_admin is false: the gateway has no Admin API`);
  const a = config.deployment.admin.admin_listen;
  return { url: `http://${hostFor(a.ip)}:${a.port}`, key: adminKeyOf(config) };
}

/** the target of the sync/dump command line: `--server` (and `--token`) when given, else the config file's Admin API */
export function targetFromOptions(opts: { config?: string; server?: string; token?: string }): Target {
  const target: Target = opts.server
    ? { url: opts.server.replace(/\/+$/, ''), key: opts.token }
    : targetFromConfig(opts.config ?? DEFAULT_CONFIG_FILE);
  if (opts.token !== undefined) target.key = opts.token;
  return target;
}

/** the field an Admin API error is about, as a path suffix */
function fieldOf(r: Resource, msg: string): string {
  const adc = r.source?.adc === true;
  if (/plugin|only supports auth type/.test(msg)) {
    if (adc && r.kind === 'credential') return '.config';
    if (adc && r.kind === 'global_rule') return '';
    return '.plugins';
  }
  if (/'vars' expression/.test(msg)) return '.vars';
  if (/upstream id/.test(msg)) return '.upstream_id';
  if (/service id/.test(msg)) return '.service_id';
  const m = /^invalid configuration: property "([^"]+)"/.exec(msg);
  if (m && m[1] !== 'plugins') return '.' + (m[1] === 'desc' && adc ? 'description' : m[1]);
  return '';
}

const ADC_REF = /(\\?)\$\{(\w+)\}/g;

/**
 * R-ADM-70: ADC `${NAME}` references to unset variables, which become empty
 * strings (an `Authorization: Bearer ` with no key); files already loaded, so
 * they are readable and valid.
 */
function unsetAdcRefs(files: string[], format: Format | undefined, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (!text.includes('${')) continue;
    let doc: unknown;
    try { doc = YAML.parse(text); } catch { continue; }
    if ((format ?? detectFormat(text, doc)) !== 'adc') continue;
    text.split('\n').forEach((line, i) => {
      if (/^\s*#/.test(line)) return;
      for (const m of line.matchAll(ADC_REF)) {
        if (m[1] === '' && env[m[2]!] === undefined) out.push(`${file}: line ${i + 1}: environment variable ${m[2]} is not set: \${${m[2]}} becomes an empty string`);
      }
    });
  }
  return out;
}

/** validate every resource against the Admin API's rules, with the declared set as the store */
export function validateAll(resources: Resource[], warnings?: string[], env?: NodeJS.ProcessEnv): DeclarativeError[] {
  const byKey = new Map(resources.map((r) => [resourceKey(r), r.value]));
  const lookup = (key: string) => byKey.get(key);
  const list = (prefix: string) =>
    resources.filter((r) => resourceKey(r).startsWith(prefix)).map((r) => ({ key: resourceKey(r), value: r.value as JsonObject }));
  const errors: DeclarativeError[] = [];
  for (const r of resources) {
    const res = validateResource(COLLECTION[r.kind], r.id, r.value, lookup, { list, env });
    const src = r.source ?? { file: '', path: `${COLLECTION[r.kind]}/${r.id}` };
    if (!res.ok) {
      errors.push(new DeclarativeError(src.file, src.path + fieldOf(r, res.error_msg), res.error_msg));
    } else if (warnings && res.warnings) {
      // R-ADM-70: the same warnings the Admin API answers with, placed in the file
      for (const w of res.warnings) warnings.push(`${src.file ? src.file + ': ' : ''}${src.path}: ${w}`);
    }
  }
  return errors;
}

export interface SyncOptions {
  files: string[];
  format?: Format;
  dryRun?: boolean;
  target: Target;
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
  /** R-ADM-70 warnings, one line each (stderr when absent), printed before anything is applied */
  warn?: (line: string) => void;
}

export interface SyncResult {
  changes: Change[];
  applied: Change[];
}

export class SyncError extends Error {
  constructor(
    message: string,
    readonly errors: string[] = [message],
    /** validate: nothing was sent; apply: a write failed (and was rolled back) */
    readonly phase: 'validate' | 'apply' = 'validate',
  ) {
    super(message);
    this.name = 'SyncError';
  }
}

/** the reverse of an applied change */
async function undo(client: AdminClient, c: Change): Promise<void> {
  if (c.op === 'create') await client.delete(c.resource);
  else if (c.previous) await client.put(c.previous);
}

export async function sync(opts: SyncOptions): Promise<SyncResult> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + '\n'));
  let resources: Resource[];
  try {
    resources = loadFiles(opts.files, opts.format, opts.env ?? process.env);
  } catch (err) {
    if (err instanceof DeclarativeError) throw new SyncError(err.message);
    throw err;
  }
  const env = opts.env ?? process.env;
  const warnings = unsetAdcRefs(opts.files, opts.format, env);
  const errors = validateAll(resources, warnings, env);
  if (errors.length > 0) throw new SyncError(errors[0]!.message, errors.map((e) => e.message));
  const warn = opts.warn ?? ((l: string) => process.stderr.write(`warning: ${l}\n`));
  for (const w of warnings) warn(w);

  const client = new AdminClient(opts.target.url, opts.target.key);
  const current = await client.readAll();
  const changes = computeDiff(resources, current);
  if (changes.length === 0) {
    out('no changes');
    return { changes, applied: [] };
  }
  if (opts.dryRun) {
    for (const c of changes) out(changeLine(c));
    return { changes, applied: [] };
  }
  const applied: Change[] = [];
  for (const c of changes) {
    try {
      if (c.op === 'delete') await client.delete(c.resource);
      else await client.put(c.resource);
    } catch (err) {
      const where = c.resource.source ? `${c.resource.source.file}: ${c.resource.source.path}: ` : '';
      const msg = `${where}${changeLine(c)} failed: ${(err as Error).message}`;
      const rollback: string[] = [];
      for (const done of [...applied].reverse()) {
        try {
          await undo(client, done);
        } catch (uerr) {
          rollback.push(`could not undo ${changeLine(done)}: ${(uerr as Error).message}`);
        }
      }
      const tail = applied.length === 0 ? 'nothing was changed' : rollback.length === 0 ? `the ${applied.length} change(s) already made were undone` : rollback.join('; ');
      throw new SyncError(`${msg}; ${tail}`, undefined, 'apply');
    }
    applied.push(c);
  }
  for (const c of applied) out(changeLine(c));
  return { changes, applied };
}

export async function dump(target: Target, format?: 'adc' | 'standalone'): Promise<DumpResult> {
  const client = new AdminClient(target.url, target.key);
  return dumpResources(await client.readAll(), format);
}
