// Framing errors never smuggle a request past the gateway (issue 16; RFC 9112
// §9.3.2, §11.2). Raw pipelined bytes go to the real CLI over a socket; the
// upstream counts what reaches it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startCatchAll, type CatchAll } from '../helpers/catch-all.js';

let proxy: CatchAll;
let seen: string[];
let proxyPort = 0;
let gw: CatchAll['gw'];

before(async () => {
  proxy = await startCatchAll();
  ({ seen, proxyPort, gw } = proxy);
});

after(() => proxy?.close());

/** writes `raw` at once and reads until the gateway closes the connection */
function exchange(raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxyPort, '127.0.0.1');
    let out = '';
    const guard = setTimeout(() => { s.destroy(); reject(new Error(`connection not closed; got:\n${out}`)); }, 5000);
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('close', () => { clearTimeout(guard); resolve(out); });
    s.on('error', () => {});
    s.write(raw);
  });
}

const statuses = (out: string) => [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test('issue 16 R-GEN-3: a request pipelined after one without Host is not forwarded; 400 and the connection closes', async () => {
  const n = seen.length;
  const out = await exchange('GET /no-host HTTP/1.1\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.deepEqual(statuses(out), [400]);
  assert.deepEqual(seen.slice(n), []);
});

test('issue 16 R-GEN-3: a request line without a version (HTTP/0.9) is answered 400; its headers and body are not forwarded', async () => {
  const n = seen.length;
  const out = await exchange('POST /x\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcdGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.deepEqual(statuses(out), [400]);
  assert.deepEqual(seen.slice(n), []);
});

test('issue 16 RFC 9112 §9.3.2: a request pipelined before a malformed one gets its own answer, in order, then the 400', async () => {
  const n = seen.length;
  const out = await exchange(
    'GET /first HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /second HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
    'GET /after-bad HTTP/1.1\r\nHost: x\r\n\r\n',
  );
  assert.deepEqual(statuses(out), [200, 200, 400]);
  assert.deepEqual(seen.slice(n), ['GET /first', 'GET /second']);
  // the gateway keeps serving
  const r = await fetch(`${gw.proxyUrl}/again`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'ok');
});

test('issue 16 RFC 9112 §3.2: a request with two Host lines is answered 400 and not forwarded, nor what follows it', async () => {
  const n = seen.length;
  const out = await exchange('GET /two-hosts HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\nGET /after-two HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.deepEqual(statuses(out), [400]);
  assert.deepEqual(seen.slice(n), []);
});

test('issue 16 R-GEN-3: a bad chunk size inside a body in flight is answered 400 and the connection closed (it hung before); nothing after it is forwarded', async () => {
  for (const size of ['g', 'fffffffffffffffffff', '-1']) {
    const n = seen.length;
    const out = await exchange(`POST /chunked-bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nabcde\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.deepEqual(statuses(out), [400], size);
    assert.ok(!seen.slice(n).includes('GET /smuggled'), size);
  }
  const r = await fetch(`${gw.proxyUrl}/again`);
  assert.equal(r.status, 200);
});
