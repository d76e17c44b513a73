// In-process harness: a tiny ConfigStore double feeding a RuntimeHolder and a
// node:http server wrapping createProxyHandler, plus a local upstream.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChangeEvent, ConfigStore, StoredItem } from '../../src/store/types.js';
import type { JsonObject, RequestContext } from '../../src/core/types.js';
import type { Logger } from '../../src/core/log.js';
import type { HealthService } from '../../src/core/health-types.js';
import { RuntimeHolder } from '../../src/runtime/holder.js';
import { createProxyHandler } from '../../src/proxy/server.js';
import { createMemoryState } from '../../src/state/memory.js';
import { GatewayTransport } from '../../src/transport/index.js';
import { SERVER_HEADER } from '../../src/core/version.js';
import { memLog } from '../helpers/wait.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { gatewayServices } from '../helpers/gateway-services.js';

export class MemStore implements ConfigStore {
  items = new Map<string, StoredItem>();
  rev = 0;
  listeners = new Set<(ev: ChangeEvent) => void>();
  async open() {}
  snapshot() {
    return this.items;
  }
  async get(key: string) {
    return this.items.get(key);
  }
  async list(prefix: string) {
    return [...this.items.values()].filter((i) => i.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
  }
  putSync(key: string, value: JsonObject): StoredItem {
    const prev = this.items.get(key);
    const item = { key, value, createdIndex: prev?.createdIndex ?? ++this.rev, modifiedIndex: ++this.rev };
    this.items.set(key, item);
    for (const l of this.listeners) l({ type: 'put', item });
    return item;
  }
  async put(key: string, value: JsonObject) {
    return this.putSync(key, value);
  }
  deleteSync(keys: string[]): string[] {
    const done = keys.filter((k) => this.items.delete(k));
    for (const k of done) for (const l of this.listeners) l({ type: 'delete', key: k, revision: ++this.rev });
    return done;
  }
  async delete(keys: string[]) {
    return this.deleteSync(keys);
  }
  async nextId() {
    return String(++this.rev).padStart(20, '0');
  }
  onChange(l: (ev: ChangeEvent) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  async close() {}
}

export interface CapturedLog extends Logger {
  lines: string[];
}

/** a Logger that keeps its lines (`[level] message`) */
export const captureLog: () => CapturedLog = memLog;

const noHealth = {
  register() {
    return { isHealthy: () => true, isCooling: () => false, trialOpen: () => false, claimTrial: () => false, observe() {}, version: 0, destroy() {} };
  },
  report: () => [],
  close() {},
};

export interface Harness {
  store: MemStore;
  holder: RuntimeHolder;
  url: string;
  log: CapturedLog;
  logged: RequestContext[];
  /** the registry the harness's gateway records into */
  metrics: Metrics;
  inFlight(): number;
  close(): Promise<void>;
}

/**
 * `health`: a real HealthService instead of the always-healthy one;
 * `accessLogReadsUsage`: what the access log says of its format's `$llm_*`
 * variables (unset: as a real one with them)
 */
export async function startHarness(seed: Record<string, JsonObject> = {}, opts: { health?: HealthService; accessLogReadsUsage?: boolean } = {}): Promise<Harness> {
  const store = new MemStore();
  for (const [k, v] of Object.entries(seed)) store.putSync(k, v);
  const log = captureLog();
  const state = createMemoryState();
  const metrics = createMetrics({});
  const holder = new RuntimeHolder(store, { state, health: opts.health ?? (noHealth as any), transport: new GatewayTransport(), ...gatewayServices(), metrics, log });
  const logged: RequestContext[] = [];
  const proxy = createProxyHandler({ holder, accessLog: { write: (c) => void logged.push(c), close: async () => {}, readsUsage: opts.accessLogReadsUsage }, log });
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    res.setHeader('Server', SERVER_HEADER);
    proxy.handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    metrics,
    store,
    holder,
    url: `http://127.0.0.1:${port}`,
    log,
    logged,
    inFlight: () => proxy.inFlight,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      holder.close();
      await holder.env.transport.close();
      await state.close();
    },
  };
}

export interface Upstream {
  url: string;
  port: number;
  hostPort: string;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

/** a local upstream echoing what it received as JSON (or running `handle`) */
export async function startUpstream(
  handle?: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (handle) return handle(req, res, body);
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', 'yes');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hostPort: `127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** HTTP request with node:http (fetch cannot set Host) */
export function req(
  url: string,
  init: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          /* not json */
        }
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) for (const x of v) headers.append(k, x);
          else if (v !== undefined) headers.set(k, v);
        }
        resolve({ status: res.statusCode!, headers, text, json });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(init.body);
  });
}
