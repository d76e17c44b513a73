// R-GEN-15 end-to-end: a stream of Admin API writes, SIGKILL at random
// moments, restart: every acknowledged write is there. Needs the Admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';

const route = (uri: string) => ({ uri, upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1 } } });

test('R-GEN-15 every write the Admin API acknowledged is present after SIGKILL at random moments', async (t) => {
  let gw: GatewayProcess = await startGateway();
  const dir = gw.dir;
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const acked = new Map<string, string>();
  let lastError = '';
  for (let round = 0; round < 3; round++) {
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 2000; i++) {
        const id = `k${round}-${i % 40}`;
        const uri = `/r${round}/${i}`;
        try {
          const res = await gw.admin('PUT', `/apisix/admin/routes/${id}`, route(uri));
          if (res.status === 200 || res.status === 201) acked.set(id, uri);
          else lastError = `${res.status} ${res.text}`;
        } catch {
          return; // the process is gone
        }
      }
    })();
    // kill at a random moment once this round's writes are flowing
    const start = acked.size;
    const deadline = Date.now() + 5000;
    while (acked.size < start + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.random() * 250));
    await gw.kill();
    stop = true;
    await writer;
    gw = await startGateway({ dir });
    const list = await gw.admin('GET', '/apisix/admin/routes');
    assert.equal(list.status, 200);
    const stored = new Map<string, string>(list.body.list.map((it: any) => [it.value.id, it.value.uri]));
    for (const [id, uri] of acked) {
      const got = stored.get(id);
      // an unacknowledged later write to the same id may have landed too
      assert.ok(got !== undefined, `round ${round}: acknowledged route ${id} is missing`);
      if (got !== uri) assert.ok(Number(got.split('/')[2]) > Number(uri.split('/')[2]), `round ${round}: ${id} went back from ${uri} to ${got}`);
    }
    // the restarted gateway is the next round's writer
  }
  assert.equal(await gw.stop(), 0);
  assert.ok(acked.size > 0, `no write was acknowledged; last answer: ${lastError}`);
});
