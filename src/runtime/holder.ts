// Holds the current compiled Runtime and swaps it atomically on every store
// change (R-GEN-10). A change marks the Runtime stale and schedules a
// recompilation in a microtask (so a bulk write compiles once); reading
// `current` recompiles synchronously when stale, so a write is live for the
// next request by the time the Admin API answered. Requests keep the Runtime
// they started with.
import type { ConfigStore } from '../store/types.js';
import { CompileCache } from './cache.js';
import { compileRuntime, type Runtime, type RuntimeEnv } from './compile.js';

export type { RuntimeEnv };

export class RuntimeHolder {
  private rt: Runtime;
  private stale = false;
  private scheduled = false;
  private closed = false;
  private readonly cache = new CompileCache();
  private readonly unsubscribe: () => void;
  private readonly listeners = new Set<(rt: Runtime) => void>();

  constructor(readonly store: ConfigStore, readonly env: RuntimeEnv) {
    this.rt = this.compile() ?? emptyRuntime(env, this.cache);
    this.unsubscribe = store.onChange(() => {
      this.stale = true;
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.refresh();
        });
      }
    });
  }

  /** the Runtime new requests use */
  get current(): Runtime {
    if (this.stale) this.refresh();
    return this.rt;
  }

  /** recompile now if a change is pending */
  refresh(): void {
    if (!this.stale || this.closed) return;
    this.stale = false;
    const next = this.compile();
    if (next) {
      this.rt = next;
      for (const l of this.listeners) {
        try {
          l(next);
        } catch (e) {
          this.env.log.error(`runtime listener failed: ${(e as Error).message}`);
        }
      }
    }
  }

  /** called after each swap */
  onSwap(listener: (rt: Runtime) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private compile(): Runtime | undefined {
    const onError = (e: unknown) => this.env.log.error(`destroying a compiled plugin failed: ${(e as Error)?.message ?? e}`);
    this.cache.begin();
    try {
      const rt = compileRuntime(this.store.snapshot(), this.env, this.cache);
      this.cache.commit(onError);
      return rt;
    } catch (e) {
      this.cache.abort(onError);
      this.env.log.error(`configuration compile failed, keeping the previous one: ${(e as Error)?.stack ?? e}`);
      return undefined;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.cache.destroyAll((e) => this.env.log.error(`destroying a compiled plugin failed: ${(e as Error)?.message ?? e}`));
  }
}

function emptyRuntime(env: RuntimeEnv, cache: CompileCache): Runtime {
  cache.begin();
  const rt = compileRuntime(new Map(), env, cache);
  cache.commit(() => {});
  return rt;
}
