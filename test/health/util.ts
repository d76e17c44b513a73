// Shared helpers of the health-check tests: a memory SharedState, a capturing
// logger, bounded waits, and probe targets on real sockets.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { SharedState } from '../../src/state/types.js';
import { until } from '../helpers/wait.js';

export function memState(): SharedState & { values: Map<string, string> } {
  const values = new Map<string, string>();
  return {
    values,
    async peek() { return { used: 0 }; },
    async charge() { return { used: 0 }; },
    async reserve() { return { admitted: true, used: 0, id: '' }; },
    async settle() {},
    async setValue(k, v) { values.set(k, v); },
    async getValue(k) { return values.get(k); },
    async close() {},
  };
}

export { memLog as captureLog, sleep } from '../helpers/wait.js';

/** polls every 5 ms (health tests measure transition times) */
export const waitFor = (cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<number> => until(cond, timeoutMs, what, 5);


/** an HTTP server whose answer status can be changed; records every probe request */
export async function probeServer(): Promise<{
  port: number;
  status: number;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; at: number }>;
  close(): Promise<void>;
}> {
  const state = {
    status: 200,
    requests: [] as Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; at: number }>,
  };
  const server = http.createServer((req, res) => {
    state.requests.push({ method: req.method!, url: req.url!, headers: req.headers, at: Date.now() });
    res.statusCode = state.status;
    res.end('probe');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

/** a raw TCP server (accepts and keeps or closes connections) */
export async function tcpServer(opts: { port?: number; onConn?: (s: net.Socket) => void } = {}): Promise<{
  port: number;
  connections: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const st = { connections: 0 };
  const server = net.createServer((s) => {
    st.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.resume(); // read to the end so that the peer's close is seen
    if (opts.onConn) opts.onConn(s);
    else s.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return Object.assign(st, {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
}

/** counts of active handles by type (Timeout, TCPSocketWrap, ...) */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}
