// Compiled objects (plugin.compile results, upstream pickers) cached by
// (parent key, name, configuration JSON) across recompiles, so an unrelated
// change keeps balancer positions, counters and health checkers. After each
// swap, entries the new Runtime no longer uses are destroyed.
export interface CacheEntry {
  value: unknown;
  destroy?: () => void;
}

export class CompileCache {
  private live = new Map<string, CacheEntry>();
  private next: Map<string, CacheEntry> | undefined;

  /** start a compilation pass */
  begin(): void {
    this.next = new Map();
  }

  /** get or create within the current pass */
  use<T>(key: string, create: () => { value: T; destroy?: () => void }): T {
    const next = this.next ?? (this.next = new Map());
    const have = next.get(key) ?? this.live.get(key);
    if (have) {
      next.set(key, have);
      return have.value as T;
    }
    const made = create();
    next.set(key, made);
    return made.value;
  }

  /** finish the pass: entries not used any more are destroyed */
  commit(onError: (err: unknown) => void): void {
    const next = this.next;
    if (!next) return;
    for (const [k, e] of this.live) {
      if (!next.has(k) && e.destroy) {
        try {
          e.destroy();
        } catch (err) {
          onError(err);
        }
      }
    }
    this.live = next;
    this.next = undefined;
  }

  /** abandon the pass: entries created by it (and not live) are destroyed */
  abort(onError: (err: unknown) => void): void {
    const next = this.next;
    this.next = undefined;
    if (!next) return;
    for (const [k, e] of next) {
      if (!this.live.has(k) && e.destroy) {
        try {
          e.destroy();
        } catch (err) {
          onError(err);
        }
      }
    }
  }

  destroyAll(onError: (err: unknown) => void): void {
    this.abort(onError);
    for (const e of this.live.values()) {
      try {
        e.destroy?.();
      } catch (err) {
        onError(err);
      }
    }
    this.live.clear();
  }

  get size(): number {
    return this.live.size;
  }
}
