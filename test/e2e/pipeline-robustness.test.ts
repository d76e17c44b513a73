// Malformed traffic on the proxy port of the real CLI never takes it down
// (R-GEN-11 spirit for the data plane): bad request lines, bad headers,
// broken chunked bodies, huge headers, garbage bytes, early disconnects.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway } from '../helpers/gateway.js';
import { startUpstream, req } from '../proxy/harness.js';

const up = await startUpstream();
const gw = await startGateway();
after(async () => {
  await gw.stop();
  await up.close();
});

// deterministic PRNG so failures are reproducible
let seed = 0x5eed;
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const garbage = (len: number) => Buffer.from(Array.from({ length: len }, () => rnd(256)));

function cases(): Array<Buffer | string> {
  const out: Array<Buffer | string> = [
    'GET\r\n\r\n',
    'GET / HTTP/9.9\r\n\r\n',
    'GARBAGE\r\n\r\n',
    'GET /ok HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
    'GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    'GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
    'POST /plain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'POST /plain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel',
    'POST /plain HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    'POST /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort',
    `GET /plain HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
    `GET /${'p'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    'GET /%zz%%% HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /plain/%c0%ae%c0%ae/x HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /plain HTTP/1.1\r\nHost: \x00\x01\r\n\r\n',
    'GET /plain HTTP/1.1\r\nHost: [::1\r\n\r\n',
    'GET /plain HTTP/1.1\r\nHost: x\r\nConnection: upgrade, x-foo\r\nUpgrade: websocket\r\nX-Foo: 1\r\n\r\n',
    'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET http://evil.example/plain HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /plain HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
    'GET /plain HTTP/1.0\r\n\r\n',
    'GET /plain HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n',
  ];
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'FOO', '', 'G\x00T'];
  for (let i = 0; i < 260; i++) {
    switch (rnd(6)) {
      case 0:
        out.push(garbage(1 + rnd(400)));
        break;
      case 1:
        out.push(`${methods[rnd(methods.length)]} /plain/${rnd(1000)} HTTP/1.1\r\nHost: x\r\n${garbage(rnd(60)).toString('latin1')}\r\n\r\n`);
        break;
      case 2:
        out.push(`POST /plain/${rnd(100)} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${rnd(2) ? 'ffffffffffffffff' : rnd(100).toString(16)}\r\n${garbage(rnd(50)).toString('latin1')}`);
        break;
      case 3:
        out.push(`GET /plain/${garbage(rnd(30)).toString('latin1')} HTTP/1.1\r\nHost: x\r\n\r\n`);
        break;
      case 4:
        out.push(`GET /plain HTTP/1.1\r\n${Array.from({ length: 50 + rnd(200) }, (_, k) => `X-H${k}: ${'v'.repeat(rnd(500))}`).join('\r\n')}\r\n\r\n`);
        break;
      default:
        // valid request cut at a random point
        const full = `POST /plain/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n01234567890123456789`;
        out.push(full.slice(0, rnd(full.length)));
    }
  }
  return out;
}

function send(port: number, payload: Buffer | string, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(t);
      s.destroy();
      resolve();
    };
    const t = setTimeout(done, waitMs);
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => {});
    s.on('connect', () => {
      s.write(payload, () => {});
      if (rnd(3) === 0) s.end();
    });
  });
}

test('R-GEN-11 R-GEN-17 a few hundred malformed requests leave the proxy alive and serving', async () => {
  const r0 = await gw.admin('PUT', '/apisix/admin/routes/plain', { uri: '/plain*', upstream: { nodes: { [up.hostPort]: 1 } } });
  assert.ok(r0.status < 300, r0.text);
  const port = Number(new URL(gw.proxyUrl).port);
  const all = cases();
  assert.ok(all.length >= 250);
  // a few at a time, bounded waits
  for (let i = 0; i < all.length; i += 20) {
    await Promise.all(all.slice(i, i + 20).map((p) => send(port, p, 300)));
  }
  assert.equal(gw.proc.exitCode, null, 'process alive');
  const r = await req(gw.proxyUrl + '/plain/after', { method: 'POST', body: 'still fine' });
  assert.equal(r.status, 200);
  assert.equal(r.json.body, 'still fine');
  assert.equal((await req(gw.proxyUrl + '/nope')).status, 404);
  assert.doesNotMatch(gw.stderr(), /uncaught|unhandled/i);
  if (process.env.SHOW_STDERR) console.log(gw.stderr());
});
