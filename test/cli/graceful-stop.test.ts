// R-GEN-18 end-to-end: SIGTERM while a streamed response is in flight. New
// connections are refused at once, the stream finishes, the process exits 0.
// Needs the Admin API and plain upstream proxying.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { until } from '../helpers/wait.js';
import { startGateway } from '../helpers/gateway.js';

function connectable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('R-GEN-18 SIGTERM: listeners close, the in-flight stream completes, exit code 0', async (t) => {
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const tick = setInterval(() => {
      res.write(`chunk ${n}\n`);
      if (++n === 8) { clearInterval(tick); res.end('done\n'); }
    }, 100);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.after(() => upstream.close());
  const port = (upstream.address() as net.AddressInfo).port;

  const gw = await startGateway();
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(gw.dir, { recursive: true, force: true, maxRetries: 5 }));
  const put = await gw.admin('PUT', '/apisix/admin/routes/slow', { uri: '/slow', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${port}`]: 1 } } });
  assert.ok(put.status === 200 || put.status === 201, put.text);

  const res = await fetch(`${gw.proxyUrl}/slow`);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  const exited = gw.stop('SIGTERM');
  await until(async () => !(await connectable(gw.proxyUrl)), 5000, 'no new connections after SIGTERM');
  let body = Buffer.from(first.value!).toString();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    body += Buffer.from(value).toString();
  }
  assert.match(body, /chunk 0\n[\s\S]*chunk 7\ndone\n$/);
  assert.equal(await exited, 0, gw.stderr());
});
