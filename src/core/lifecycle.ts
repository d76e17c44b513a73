// Shutdown hooks: modules that hold buffers (logger batches) or connections
// register a flush/close here; the gateway runs them on SIGTERM/SIGINT
// after in-flight requests finished (R-GEN-18).
type Hook = () => Promise<void> | void;
const hooks = new Set<Hook>();

export function onShutdown(hook: Hook): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

export async function runShutdownHooks(): Promise<void> {
  const list = [...hooks];
  hooks.clear();
  await Promise.allSettled(list.map(async (h) => h()));
}
