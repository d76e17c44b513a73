// R-SA-1: APISIX standalone mode (`deployment.role: data_plane`,
// `role_data_plane.config_provider: yaml`). The configuration is
// conf/apisix.yaml in APISIX's standalone format, ending with `#END`. A file
// is applied only whole: it must end with `#END` (so a half-written file is
// never read as complete), parse, declare no duplicates or dangling
// references, and every resource must pass the Admin API's validation.
// Otherwise the previous configuration keeps serving and the reason is
// logged. The file is watched (directory events catch a rename into place;
// a 1 s stat poll backs them up); changes are coalesced and applied as one
// `reset`, so the runtime never sees half of a new file.
import { readFileSync, unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { log } from '../core/log.js';
import type { JsonObject } from '../core/types.js';
import { CachedStore } from '../store/cache.js';
import type { StoredItem } from '../store/types.js';
import { parseDeclarative, mergeResources } from './load.js';
import { DeclarativeError, resourceKey } from './model.js';
import { validateAll } from './sync.js';

const END_FLAG = /#END\s*$/;

/**
 * The items conf/apisix.yaml declares, validated as the Admin API would;
 * throws a DeclarativeError naming the problem. The Admin API's R-ADM-70
 * warnings (accepted, but probably a mistake) are added to `warnings`.
 */
export function loadStandaloneText(text: string, file: string, env: NodeJS.ProcessEnv = process.env, warnings?: string[]): Map<string, JsonObject> {
  if (!END_FLAG.test(text)) {
    throw new DeclarativeError(file, '', 'missing the #END line at the end of the file (a file is read only once it is complete)');
  }
  const resources = mergeResources([parseDeclarative(text, file, 'standalone', env).resources]);
  const errors = validateAll(resources, warnings, env);
  if (errors.length > 0) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    throw new DeclarativeError(errors[0]!.file, errors[0]!.path, errors[0]!.detail + more);
  }
  const items = new Map<string, JsonObject>();
  for (const r of resources) {
    // stored as the Admin API stores a PUT: consumers keyed by username, others carry their id
    const value: JsonObject = r.kind === 'consumer' ? { ...r.value, username: r.id } : { ...r.value, id: r.id };
    items.set(resourceKey(r), value);
  }
  return items;
}

export function loadStandaloneFile(file: string, env: NodeJS.ProcessEnv = process.env, warnings?: string[]): Map<string, JsonObject> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DeclarativeError(file, '', `cannot read file: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return loadStandaloneText(text, file, env, warnings);
}

export interface StandaloneStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** quiet time after a file event before the file is read (coalesces the writes of one save) */
  settleMs?: number;
  /** stat poll interval backing up the file events */
  pollMs?: number;
}

export class StandaloneFileStore extends CachedStore {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private lastText?: string;
  private revision = 0;
  private closed = false;
  private readonly env: NodeJS.ProcessEnv;
  private readonly settleMs: number;
  private readonly pollMs: number;

  constructor(readonly file: string, opts: StandaloneStoreOptions = {}) {
    super();
    this.env = opts.env ?? process.env;
    this.settleMs = opts.settleMs ?? 50;
    this.pollMs = opts.pollMs ?? 1000;
  }

  /** the first load must succeed: a data plane with no valid file has nothing to serve */
  async open(): Promise<void> {
    if (this.watcher) return;
    const text = this.read();
    this.apply(this.load(text), text);
    log.info(`configuration read from ${this.file} (standalone mode: the Admin API is off)`);
    const base = path.basename(this.file);
    this.watcher = watch(path.dirname(this.file), (_event, name) => {
      if (name === null || name === base) this.schedule();
    });
    this.watcher.on('error', (err) => log.error(`watching ${this.file}: ${err.message}`));
    this.watcher.unref();
    watchFile(this.file, { interval: this.pollMs, persistent: false }, () => this.schedule());
  }

  private read(): string {
    try {
      return readFileSync(this.file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new DeclarativeError(this.file, '', `cannot read file: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, this.settleMs);
    this.timer.unref();
  }

  /** read the file again; a file that is not valid leaves everything as it was */
  reload(): void {
    if (this.closed) return;
    let text: string;
    try {
      text = this.read();
      if (text === this.lastText) return;
      this.apply(this.load(text), text);
    } catch (err) {
      const msg = err instanceof DeclarativeError ? err.message : `${this.file}: ${(err as Error).message}`;
      log.error(`standalone configuration not reloaded, the previous one keeps serving: ${msg}`);
      return;
    }
    log.info(`standalone configuration reloaded from ${this.file} (${this.items.size} items)`);
  }

  /** validate; the warnings are logged as the Admin API logs them */
  private load(text: string): Map<string, JsonObject> {
    const warnings: string[] = [];
    const items = loadStandaloneText(text, this.file, this.env, warnings);
    for (const w of warnings) log.warn(w);
    return items;
  }

  private apply(next: Map<string, JsonObject>, text: string): void {
    const rev = ++this.revision;
    const old = new Map(this.items);
    this.items.clear();
    for (const [key, value] of next) {
      const prev = old.get(key);
      // an unchanged item keeps its indexes, so compiled state keyed by them survives
      const item: StoredItem = prev && JSON.stringify(prev.value) === JSON.stringify(value)
        ? prev
        : { key, value, createdIndex: prev?.createdIndex ?? rev, modifiedIndex: rev };
      this.items.set(key, item);
    }
    this.lastText = text;
    this.emit({ type: 'reset' });
  }

  private readOnly(): Promise<never> {
    return Promise.reject(new Error(`the configuration is read from ${this.file} (deployment.role: data_plane); it cannot be written`));
  }

  put(): Promise<StoredItem> {
    return this.readOnly();
  }

  delete(): Promise<string[]> {
    return this.readOnly();
  }

  nextId(): Promise<string> {
    return this.readOnly();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    unwatchFile(this.file);
    this.listeners.clear();
  }
}
