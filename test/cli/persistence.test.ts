// End-to-end through the real CLI and Admin API: readiness with a generated
// key (CONTRACT, R-GEN-14) and persistence across restarts and SIGKILL
// (R-GEN-15). Needs the Admin API (src/admin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';

const route = (uri: string) => ({ uri, upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1 } } });

test('CONTRACT R-GEN-14 ready: GET /apisix/admin/routes answers 200 to the generated key, 401 without a key', async (t) => {
  const gw = await startGateway({ config: { deployment: { admin: { admin_key: [{ name: 'admin', key: '', role: 'admin' }] } } } });
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(gw.dir, { recursive: true, force: true, maxRetries: 5 }));
  const key = /generated admin key for "admin": ([0-9a-f]{32})/.exec(gw.stdout())![1]!;
  const ok = await fetch(`${gw.adminUrl}/apisix/admin/routes`, { headers: { 'X-API-KEY': key } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { total: 0, list: [] });
  const denied = await fetch(`${gw.adminUrl}/apisix/admin/routes`);
  assert.equal(denied.status, 401);
  await denied.arrayBuffer();
});

test('R-GEN-15 resources, revisions and the POST id sequence survive a restart and a SIGKILL', async (t) => {
  let gw: GatewayProcess = await startGateway();
  const dir = gw.dir;
  // the gateway first: a running one (or its workers) still writes into its directory
  t.after(() => gw.kill());
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  const put = await gw.admin('PUT', '/apisix/admin/routes/r1', route('/one'));
  assert.equal(put.status, 201, put.text);
  const posted = await gw.admin('POST', '/apisix/admin/routes', route('/two'));
  assert.equal(posted.status, 201, posted.text);
  const firstId: string = posted.body.value.id;
  assert.match(firstId, /^\d{20}$/);
  const before = await gw.admin('GET', '/apisix/admin/routes/r1');
  assert.equal(before.status, 200);

  assert.equal(await gw.stop(), 0);
  gw = await startGateway({ dir });
  const after = await gw.admin('GET', '/apisix/admin/routes/r1');
  assert.equal(after.status, 200);
  assert.deepEqual(after.body, before.body, 'same value, createdIndex and modifiedIndex after a clean restart');
  assert.equal((await gw.admin('GET', `/apisix/admin/routes/${firstId}`)).status, 200);

  const second = await gw.admin('POST', '/apisix/admin/routes', route('/three'));
  assert.equal(second.status, 201);
  const changed = await gw.admin('PUT', '/apisix/admin/routes/r1', route('/one-changed'));
  assert.equal(changed.status, 200);
  await gw.kill(); // SIGKILL right after the Admin API answered
  gw = await startGateway({ dir });
  const r1 = await gw.admin('GET', '/apisix/admin/routes/r1');
  assert.equal(r1.body.value.uri, '/one-changed');
  assert.equal(r1.body.createdIndex, before.body.createdIndex);
  assert.ok(r1.body.modifiedIndex > before.body.modifiedIndex);
  const third = await gw.admin('POST', '/apisix/admin/routes', route('/four'));
  assert.ok(third.body.value.id > second.body.value.id, 'POST ids keep increasing across restarts');
  const list = await gw.admin('GET', '/apisix/admin/routes');
  assert.equal(list.body.total, 4);
  assert.equal(await gw.stop(), 0);
});
