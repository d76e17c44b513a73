// What one running gateway owns besides its configuration and its named
// services: the hooks that run when it stops (R-GEN-18: logger batches
// flushed, files closed), and the objects that plugins share across the
// configurations of that gateway (one open file per path). Two gateways in
// one process (tests, workers) share none of them.
type Hook = () => Promise<void> | void;

export class GatewayScope {
  private readonly hooks = new Set<Hook>();
  private readonly objects = new Map<string, unknown>();

  /** `hook` runs when the gateway stops, after in-flight requests finished; the result unregisters it */
  onShutdown(hook: Hook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** run every hook once (the gateway stops) */
  async shutdown(): Promise<void> {
    const list = [...this.hooks];
    this.hooks.clear();
    await Promise.allSettled(list.map(async (h) => h()));
  }

  /** the object this gateway keeps under `key`, made by `create` the first time it is asked for */
  shared<T>(key: string, create: () => T): T {
    let v = this.objects.get(key) as T | undefined;
    if (v === undefined) this.objects.set(key, (v = create()));
    return v;
  }
}
