// A real HTTP log collector for logger tests: records every request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { until as waitUntil } from '../helpers/wait.js';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Collector {
  url: string;
  received: Received[];
  /** answer with this status from now on */
  status: number;
  /** never answer (a hanging collector) */
  hang: boolean;
  /** answer the next N requests with 500 */
  failNext: number;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCollector(): Promise<Collector> {
  const received: Received[] = [];
  const c = { status: 200, hang: false, failNext: 0 } as Collector;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (c.hang) return;
      if (c.failNext > 0) {
        c.failNext--;
        res.statusCode = 500;
      } else res.statusCode = c.status;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c.received = received;
  c.waitFor = async (n, timeoutMs = 5000) => {
    const end = Date.now() + timeoutMs;
    while (received.length < n) {
      if (Date.now() > end) throw new Error(`collector: ${received.length}/${n} requests after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  c.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return c;
}

/** a plain upstream answering `hello` */
export async function startUpstream(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end('hello world\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** polls every 20 ms, 5 s by default */
export const until = (cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<number> => waitUntil(cond, timeoutMs, what, 20);

/** a GET with node:http (fetch cannot set Host) */
export function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });
}
