// A real CLI whose one route `/*` proxies everything to a local upstream that
// records each request it receives: what the framing tests count to see
// whether anything was smuggled past the gateway.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayProcess, type StartOptions } from './gateway.js';

export interface CatchAll {
  gw: GatewayProcess;
  proxyPort: number;
  /** `<method> <url>` of every request the upstream received, in order */
  seen: string[];
  close(): Promise<void>;
}

/** `answer` gives the upstream's response body for a request (default `ok`) */
export async function startCatchAll(opts: StartOptions = {}, answer: (req: http.IncomingMessage) => string = () => 'ok'): Promise<CatchAll> {
  const seen: string[] = [];
  const upstream = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end(answer(req)));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const gw = await startGateway(opts);
  const up = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const r = await gw.admin('PUT', '/apisix/admin/routes/all', { uri: '/*', upstream: { nodes: { [up]: 1 } } });
  if (r.status >= 300) throw new Error(`catch-all route: ${r.status} ${r.text}`);
  return {
    gw,
    proxyPort: Number(new URL(gw.proxyUrl).port),
    seen,
    async close() {
      await gw.stop();
      await new Promise<void>((res) => upstream.close(() => res()));
    },
  };
}
