// Property-based fuzzing of HTTP/1.1 framing on the proxy listener over raw
// sockets (issue 16; RFC 9112 §6.3, §9.3.2, §11.2). A generated connection
// carries well-formed requests, then maybe one malformed request (CL with
// TE, two Content-Lengths, invalid chunk sizes, obs-fold, NUL/CR/LF in names
// and values, oversized headers, no Host, no version) whose bytes hide a
// request `/smuggled-*`, then a request `/after-*`. Properties: the mock
// upstream never receives a hidden request, nor anything after a rejected
// one; the requests before get their own answers in order; the malformed
// one is answered 400/431 or the connection closed; the gateway keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { startCatchAll, type CatchAll } from '../helpers/catch-all.js';
import { check } from './params.js';

let proxy: CatchAll;
let proxyPort = 0;
let gw: CatchAll['gw'];

before(async () => {
  proxy = await startCatchAll({ config: { nginx_config: { http: { enable_access_log: false } } } }, (req) => `<${req.url}>`);
  ({ proxyPort, gw } = proxy);
});

after(() => proxy?.close());

/** urls the upstream received since the last reset */
let mark = 0;
const seenUrls = () => proxy.seen.slice(mark).map((s) => s.slice(s.indexOf(' ') + 1));

const hidden = (id: number) => `GET /smuggled-${id} HTTP/1.1\r\nHost: x\r\n\r\n`;

/** well-formed requests: GET, POST with Content-Length, POST chunked */
const good = fc.oneof(
  fc.constant((id: number, close: boolean) => `GET /ok-${id} HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`),
  fc.string({ maxLength: 20, unit: 'grapheme-ascii' }).map((body) => (id: number, close: boolean) =>
    `POST /ok-${id} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`),
  fc.array(fc.string({ minLength: 1, maxLength: 9, unit: 'grapheme-ascii' }), { maxLength: 3 }).map((parts) => (id: number, close: boolean) =>
    `POST /ok-${id} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${close ? 'Connection: close\r\n' : ''}\r\n` +
    parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n'),
);

type Bad = { kind: string; text: (id: number) => string };
const teValue = fc.constantFrom('chunked', ' chunked', 'Chunked', 'identity, chunked', 'chunked, identity', 'chunked\t', 'xchunked');
const badHeaderLine = fc.constantFrom(
  'X-A: a\rb', 'X-A: a\u0000b', 'X\u0000A: b', 'X-A: x\nContent-Length: 0', 'X A: b', ' X-A: b', 'X-A:\r\n', 'X-A\r\n',
  'Content-Length: 0\nX-B: c', '\u0000', 'X-A: a\r\rb', 'Host: y', 'Transfer-Encoding: chunked',
);
const bad: fc.Arbitrary<Bad> = fc.oneof(
  fc.tuple(teValue, fc.boolean(), fc.nat(80)).map(([te, teFirst, extra]) => ({
    kind: 'CL+TE',
    text: (id: number) => {
      const body = `0\r\n\r\n${hidden(id)}`;
      const cl = `Content-Length: ${Math.max(0, body.length - (extra % (body.length + 1)))}`;
      const hs = teFirst ? [`Transfer-Encoding: ${te}`, cl] : [cl, `Transfer-Encoding: ${te}`];
      return `POST /bad-${id} HTTP/1.1\r\nHost: x\r\n${hs.join('\r\n')}\r\n\r\n${body}`;
    },
  })),
  fc.tuple(fc.nat(3), fc.constantFrom(',', '\r\nContent-Length: ')).map(([a, sep]) => ({
    kind: 'two CLs',
    text: (id: number) => `POST /bad-${id} HTTP/1.1\r\nHost: x\r\nContent-Length: ${a}${sep}${hidden(id).length}\r\n\r\n${hidden(id)}`,
  })),
  fc.constantFrom('fffffffffffffffffff', '-1', '0x5', ' 5', '5 5', 'g', '', '+5', '5\u0000', '1;a=\u0000').map((size) => ({
    kind: 'chunk size',
    text: (id: number) => `POST /bad-${id} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\nabcde\r\n0\r\n\r\n${hidden(id)}`,
  })),
  fc.constantFrom(' ', '\t', '  \t').map((ws) => ({
    kind: 'obs-fold',
    text: (id: number) => `POST /bad-${id} HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n${ws}Transfer-Encoding: chunked\r\nContent-Length: ${5 + hidden(id).length}\r\n\r\n0\r\n\r\n${hidden(id)}`,
  })),
  badHeaderLine.map((h) => ({
    kind: 'header bytes',
    text: (id: number) => `POST /bad-${id} HTTP/1.1\r\nHost: x\r\n${h}\r\nContent-Length: ${hidden(id).length}\r\n\r\n${hidden(id)}`,
  })),
  fc.integer({ min: 17, max: 80 }).map((kib) => ({
    kind: 'oversized headers',
    text: (id: number) => `GET /bad-${id} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(kib * 1024)}\r\n\r\n${hidden(id)}`,
  })),
  fc.constantFrom('', 'Content-Length: 0\r\n').map((cl) => ({
    kind: 'no Host',
    text: (id: number) => `GET /bad-${id} HTTP/1.1\r\n${cl}\r\n${hidden(id)}`,
  })),
  fc.constant({ kind: 'no version', text: (id: number) => `POST /bad-${id}\r\nHost: x\r\nContent-Length: ${hidden(id).length}\r\n\r\n${hidden(id)}` }),
);

const conn = fc.record({
  goods: fc.array(good, { maxLength: 3 }),
  bad: fc.option(bad, { freq: 4 }),
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
});

let nextId = 0;

/** writes the pieces and reads until the gateway closes the connection */
function exchange(pieces: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(proxyPort, '127.0.0.1');
    let out = '';
    const guard = setTimeout(() => { s.destroy(); reject(new Error(`connection not closed; got:\n${out}`)); }, 10_000);
    s.setEncoding('latin1');
    s.on('data', (d) => (out += d));
    s.on('close', () => { clearTimeout(guard); resolve(out); });
    s.on('error', () => {});
    (async () => {
      for (const p of pieces) {
        if (s.destroyed) return;
        await new Promise<void>((r) => s.write(p, 'latin1', () => r()));
      }
    })().catch(() => {});
  });
}

const statuses = (out: string) => [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test('issue 16 R-GEN-3 fuzz: no request is smuggled past a framing error; earlier requests get their own answers; the gateway keeps serving', async (t) => {
  const kinds = new Map<string, number>();
  const accepted = new Map<string, number>();
  await check('framing', 'no-smuggling', 120, fc.asyncProperty(conn, async ({ goods, bad: b, cuts }) => {
    mark = proxy.seen.length;
    const ids: number[] = [];
    let raw = '';
    goods.forEach((g, i) => {
      const id = nextId++;
      ids.push(id);
      raw += g(id, b === null && i === goods.length - 1);
    });
    let badId = -1;
    if (b !== null) {
      badId = nextId++;
      kinds.set(b.kind, (kinds.get(b.kind) ?? 0) + 1);
      raw += b.text(badId) + `GET /after-${badId} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    }
    if (raw === '') return;
    const at = [...new Set(cuts.map((c) => c % raw.length))].sort((x, y) => x - y);
    const pieces: string[] = [];
    let prev = 0;
    for (const c of at) { pieces.push(raw.slice(prev, c)); prev = c; }
    pieces.push(raw.slice(prev));
    const out = await exchange(pieces.filter((p) => p !== ''));
    const seen = seenUrls();
    const st = statuses(out);
    const wantOk = ids.map((id) => `/ok-${id}`);
    const ctx = `\nsent ${JSON.stringify(raw.length > 600 ? raw.slice(0, 600) + '…' : raw)} in ${pieces.length} pieces\nupstream saw ${JSON.stringify(seen)}\nstatuses ${JSON.stringify(st)}`;
    assert.ok(!seen.some((u) => u.startsWith('/smuggled-')), 'a hidden request reached the upstream' + ctx);
    // pipelined requests are handled concurrently: they reach the upstream in any order
    assert.deepEqual(seen.filter((u) => u.startsWith('/ok-')).sort(), [...wantOk].sort(), 'the requests before reached the upstream' + ctx);
    const answered = [...out.matchAll(/<(\/ok-\d+)>/g)].map((m) => m[1]);
    assert.deepEqual(answered, wantOk, 'the requests before got their own answers, in order' + ctx);
    assert.deepEqual(st.slice(0, wantOk.length), wantOk.map(() => 200), 'the requests before got their own answers' + ctx);
    if (b !== null) {
      const rest = seen.filter((u) => !u.startsWith('/ok-'));
      if (rest.length === 0) {
        // rejected: 400/431 or closed, nothing after it
        assert.ok(st.length === wantOk.length || (st.length === wantOk.length + 1 && [400, 431].includes(st[wantOk.length]!)), `${b.kind}: rejected, so 400/431 or closed` + ctx);
      } else {
        accepted.set(b.kind, (accepted.get(b.kind) ?? 0) + 1);
        // accepted as one well-framed request (e.g. a folded header): it and the next request only
        assert.ok(rest.length <= 2 && rest.includes(`/bad-${badId}`) && rest.every((u) => u === `/bad-${badId}` || u === `/after-${badId}`), `${b.kind}: accepted as one request` + ctx);
      }
    }
    const r = await fetch(`${gw.proxyUrl}/probe`);
    assert.equal(r.status, 200, 'the gateway keeps serving');
    await r.text();
  }), (m) => t.diagnostic(m), 20000);
  t.diagnostic(`malformed kinds sent: ${JSON.stringify(Object.fromEntries(kinds))}; head handled before the error: ${JSON.stringify(Object.fromEntries(accepted))}`);
  assert.equal(gw.proc.exitCode, null, 'the gateway is still running');
});
