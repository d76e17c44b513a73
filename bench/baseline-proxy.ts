// The floor the benchmark compares switchyard with: the smallest useful
// node:http + undici reverse proxy (read the body, forward it, relay the
// answer), with none of the gateway's features. Run as its own process.
// Usage: node baseline-proxy.js <upstream url>; prints "baseline listening on ip:port".
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const upstream = new Pool(process.argv[2]!, { connections: 128 });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    upstream
      .request({ path: req.url!, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
      .then(async (r) => {
        const body = Buffer.from(await r.body.arrayBuffer());
        res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json'), 'content-length': body.length });
        res.end(body);
      })
      .catch(() => {
        res.statusCode = 502;
        res.end();
      });
  });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  process.stdout.write(`baseline listening on ${a.address}:${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
