// The floor the benchmark compares switchyard with: what any AI gateway on
// node:http + undici pays per request and nothing more. It reads the body,
// JSON.parse, sets `model`, JSON.stringify, sends it on a keep-alive undici
// Agent through the dispatch API and relays the answer chunk by chunk (the
// same work as ../shared/bench's nodefloor). Run as its own process.
// Usage: node baseline-proxy.js <upstream origin>; prints "baseline listening on ip:port".
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';

const origin = process.argv[2]!;
const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    body.model = 'gpt-4o-mini';
    const out = JSON.stringify(body);
    agent.dispatch({
      origin, path: req.url!, method: 'POST', body: out,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'content-length': String(Buffer.byteLength(out)) },
    }, {
      onRequestStart() {},
      onResponseStart(_c, status, headers) {
        const h: Record<string, string> = { 'content-type': String(headers['content-type'] ?? 'application/json') };
        if (headers['content-length']) h['content-length'] = String(headers['content-length']);
        res.writeHead(status, h);
      },
      onResponseData(_c, chunk) { res.write(chunk); },
      onResponseEnd() { res.end(); },
      onResponseError() { if (!res.headersSent) res.writeHead(502); res.end(); },
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  process.stdout.write(`baseline listening on ${a.address}:${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
