// Issue 16 item 3 (R-GEN-15, CONTRACT): the data directory on a real 64 KiB
// tmpfs under the real CLI. Disk full: Admin API writes answer 503 with an
// error_msg naming the error, nothing unacknowledged appears (now or after a
// restart), the proxy keeps serving; with room again writes work. Read-only:
// the gateway starts on the directory, serves its routes and answers writes
// 503 until the directory is writable again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { mountTmpfs, skipReason } from '../helpers/tmpfs.js';
import { startUpstream } from '../loggers/collector.js';

async function setup(t: { after(fn: () => unknown): void }) {
  const fs = mountTmpfs();
  if (!fs) return undefined;
  const upstream = await startUpstream();
  const config = { deployment: { local: { data_dir: path.join(fs.dir, 'data') } } };
  const state: { gw?: GatewayProcess } = {};
  t.after(async () => {
    await state.gw?.kill();
    await upstream.close();
    fs.unmount();
  });
  const route = (uri: string, desc = '') => ({ uri, desc, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } } });
  const get = async (uri: string) => (await fetch(state.gw!.proxyUrl + uri)).status;
  return { fs, config, state, route, get };
}

test('R-GEN-15 disk full: writes answer 503 with an error_msg, nothing unacknowledged is stored, the proxy keeps serving', async (t) => {
  const s = await setup(t);
  if (!s) return t.skip(skipReason);
  const { fs, config, state, route, get } = s;
  let gw = (state.gw = await startGateway({ config }));
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/a', route('/a', 'first'))).status, 201);
  assert.equal(await get('/a'), 200);

  fs.fill();
  // a record bigger than what is left of the journal's last page (a small one could still fit)
  const big = (uri: string) => ({ upstream: route(uri).upstream, uris: [uri, ...Array.from({ length: 400 }, (_, i) => `${uri}/${i}-padding-padding`)] });
  for (const [method, p, body] of [
    ['PUT', '/apisix/admin/routes/b', big('/b')],
    ['PUT', '/apisix/admin/routes/a', big('/a-moved')],
    ['POST', '/apisix/admin/routes', big('/c')],
  ] as const) {
    const r = await gw.admin(method, p, body);
    assert.equal(r.status, 503, `${method} ${p}: ${r.status} ${r.text}`);
    assert.match(r.body.error_msg, /ENOSPC|no space left/i, `${method} ${p}`);
  }
  assert.equal((await gw.admin('GET', '/apisix/admin/routes/b')).status, 404);
  assert.equal((await gw.admin('GET', '/apisix/admin/routes/a')).body.value.desc, 'first');
  assert.equal((await gw.admin('GET', '/apisix/admin/routes')).body.total, 1);
  assert.equal(await get('/a'), 200, 'the proxy keeps serving');
  assert.equal(await get('/a-moved'), 404, 'the rejected change is not live');

  fs.unfill();
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/b', route('/b', 'second'))).status, 201, 'writes work with room again');
  assert.equal(await get('/b'), 200);
  assert.equal(await gw.stop(), 0);
  gw = state.gw = await startGateway({ config, dir: gw.dir });
  const list = (await gw.admin('GET', '/apisix/admin/routes')).body.list.map((it: any) => `${it.value.id}:${it.value.desc}`).sort();
  assert.deepEqual(list, ['a:first', 'b:second']);
});

test('R-GEN-15 read-only data directory: the gateway starts and serves, writes answer 503 until it is writable again', async (t) => {
  const s = await setup(t);
  if (!s) return t.skip(skipReason);
  const { fs, config, state, route, get } = s;
  let gw = (state.gw = await startGateway({ config }));
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/a', route('/a', 'first'))).status, 201);
  assert.equal(await gw.stop(), 0);

  fs.remount('ro');
  gw = state.gw = await startGateway({ config, dir: gw.dir });
  assert.match(gw.stderr(), /not writable, serving what it holds without writes: EROFS/);
  assert.equal(await get('/a'), 200, 'the stored route is served');
  const r = await gw.admin('PUT', '/apisix/admin/routes/b', route('/b'));
  assert.equal(r.status, 503, r.text);
  assert.match(r.body.error_msg, /EROFS|read-only/i);
  assert.equal((await gw.admin('GET', '/apisix/admin/routes/b')).status, 404);

  fs.remount('rw');
  assert.equal((await gw.admin('PUT', '/apisix/admin/routes/b', route('/b', 'second'))).status, 201);
  assert.equal(await get('/b'), 200);
  assert.equal(await gw.stop(), 0);
  gw = state.gw = await startGateway({ config, dir: gw.dir });
  assert.equal((await gw.admin('GET', '/apisix/admin/routes/b')).body.value.desc, 'second');
});
