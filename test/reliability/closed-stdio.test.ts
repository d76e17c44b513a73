// The reader of the gateway's stdout and stderr goes away (`switchyard start |
// head`, a supervisor or log shipper that died): the gateway keeps serving and
// does not spin. Found on 2026-12-06: a gateway orphaned by a killed test
// runner used 72 % of a core for 30 minutes, each failed stderr write an
// uncaught exception whose log line was the next failed write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../proxy/harness.js';
import { treeStats } from '../helpers/proc.js';
import { closedPort } from '../helpers/ports.js';

/** a regression would leave the gateway unable to answer: fail in 10 s, not at fetch's own timeout */
const get = (url: string) => fetch(url, { signal: AbortSignal.timeout(10_000) });

test('R-GEN-11 issue 16: with stdout and stderr closed by their reader the gateway keeps serving and does not spin', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const up = await startUpstream();
  const gw = await startGateway();
  t.after(async () => { await gw.kill(); await up.close(); });
  const dead = await closedPort();
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/ok', { uri: '/ok', upstream: { type: 'roundrobin', nodes: { [up.hostPort]: 1 } } })).status, 201);
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/down', { uri: '/down', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${dead}`]: 1 } } })).status, 201);

  // the reader goes away
  gw.proc.stdout!.destroy();
  gw.proc.stderr!.destroy();
  // requests whose failures are logged at [error]: each line is a write to the closed stderr
  for (let i = 0; i < 5; i++) assert.equal((await get(`${gw.proxyUrl}/down`)).status, 502);
  assert.equal((await get(`${gw.proxyUrl}/ok`)).status, 200, 'still serving');

  const before = treeStats(gw.proc.pid!).cpuS;
  await new Promise((r) => setTimeout(r, 1000)); // time itself: CPU used while idle
  const used = Math.round((treeStats(gw.proc.pid!).cpuS - before) * 1000);
  assert.ok(used < 250, `an idle gateway used ${used} ms of CPU in 1 s after its stderr closed (a write loop uses most of a core)`);
  assert.equal((await get(`${gw.proxyUrl}/ok`)).status, 200, 'still serving');
  assert.equal(gw.proc.exitCode, null, 'still running');
});
