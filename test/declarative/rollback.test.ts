// All-or-nothing when the Admin API refuses a write in the middle of a sync
// (R-DECL-30): the writes already made are undone. A small in-process fake
// Admin API stands in for the gateway so that the failure can be injected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sync, SyncError } from '../../src/declarative/sync.js';

interface Fake {
  url: string;
  items: Map<string, any>;
  log: string[];
  failOn?: (method: string, p: string) => boolean;
  close(): Promise<void>;
}

async function fakeAdmin(): Promise<Fake> {
  const items = new Map<string, any>();
  const log: string[] = [];
  const fake: Partial<Fake> = { items, log };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d) => (body += d));
    req.on('end', () => {
      const p = req.url!.split('?')[0]!;
      const key = p.replace('/apisix/admin', '/apisix');
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', server: 'APISIX/3.16.0 (fake)' });
        res.end(JSON.stringify(obj));
      };
      if (req.method === 'GET') {
        const list = [...items.entries()]
          .filter(([k]) => k.startsWith(key + '/') && k.slice(key.length + 1).split('/').length === 1)
          .map(([k, v]) => ({ key: k, value: v, createdIndex: 1, modifiedIndex: 1 }));
        return send(200, { total: list.length, list });
      }
      log.push(`${req.method} ${p}`);
      if (fake.failOn?.(req.method!, p)) return send(503, { error_msg: 'etcd is unreachable' });
      if (req.method === 'PUT') {
        const v = JSON.parse(body);
        const existed = items.has(key);
        items.set(key, { ...v, create_time: 1, update_time: 2 });
        return send(existed ? 200 : 201, { key, value: v });
      }
      if (req.method === 'DELETE') {
        if (!items.delete(key)) return send(404, { error_msg: 'Key not found', message: 'Key not found' });
        return send(200, { deleted: '1', key });
      }
      send(405, { error_msg: 'no' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((r) => server.close(() => r()));
  return fake as Fake;
}

test('R-DECL-30: a write refused mid-sync undoes the writes already made (creates deleted, updates and deletes restored)', async (t) => {
  const fake = await fakeAdmin();
  t.after(() => fake.close());
  // running state: consumer "old" (to be deleted) and consumer "keep" (to be updated)
  fake.items.set('/apisix/consumers/old', { username: 'old', create_time: 1, update_time: 1 });
  fake.items.set('/apisix/consumers/keep', { username: 'keep', desc: 'before', create_time: 1, update_time: 1 });
  const dir = mkdtempSync(path.join(tmpdir(), 'rollback-'));
  const file = path.join(dir, 'adc.yaml');
  writeFileSync(
    file,
    `services:
  - name: s1
    routes:
      - {name: r1, uris: [/a], plugins: {key-auth: {}}}
consumers:
  - username: keep
    description: after
  - username: new
    credentials:
      - {name: k, type: key-auth, config: {key: secret}}
`,
  );
  // the credential write fails: service, route, consumer updates/creates happened before it
  fake.failOn = (m, p) => m === 'PUT' && p.includes('/credentials/');
  const lines: string[] = [];
  await assert.rejects(
    sync({ files: [file], target: { url: fake.url, key: 'k' }, out: (l) => lines.push(l) }),
    (err: unknown) => {
      assert.ok(err instanceof SyncError);
      assert.equal(err.phase, 'apply');
      assert.match(err.message, /create credential "new\/k" failed: PUT .* answered 503: etcd is unreachable/);
      assert.match(err.message, /were undone/);
      return true;
    },
  );
  assert.deepEqual(lines, []);
  // back to the initial state (values compared without the fake's timestamps)
  const state = Object.fromEntries([...fake.items].map(([k, v]) => [k, { ...v, create_time: undefined, update_time: undefined }]));
  assert.deepEqual(Object.keys(state).sort(), ['/apisix/consumers/keep', '/apisix/consumers/old']);
  assert.equal(state['/apisix/consumers/keep'].desc, 'before');
  // the order: forward writes, then their reversal
  assert.deepEqual(fake.log.filter((l) => !l.includes('/credentials/')).map((l) => l.split(' ')[0]), ['PUT', 'PUT', 'PUT', 'PUT', 'DELETE', 'PUT', 'DELETE', 'DELETE']);

  // a delete refused at the end: the earlier delete is restored
  fake.log.length = 0;
  fake.failOn = (m, p) => m === 'DELETE' && p.endsWith('/consumers/old');
  writeFileSync(file, 'consumers:\n  - username: keep\n    description: before\n');
  fake.items.set('/apisix/consumers/old/credentials/c', { id: 'c', plugins: { 'key-auth': { key: 'x' } } });
  await assert.rejects(sync({ files: [file], target: { url: fake.url }, out: () => {} }), SyncError);
  assert.ok(fake.items.has('/apisix/consumers/old/credentials/c'), 'the deleted credential was put back');
});
