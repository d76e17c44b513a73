import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, compileHosts, normalizePath, type RouteMatchSpec } from '../../src/runtime/router.js';
import { compileIpMatcher } from '../../src/core/ip.js';
import { compileExpression } from '../../src/core/expr.js';

type R = RouteMatchSpec & { id: string };
const route = (id: string, uris: string[], extra: Partial<R> = {}): R => ({ key: `/apisix/routes/${id}`, id, priority: 0, uris, ...extra });
const reqOf = (uri: string, o: { host?: string; method?: string; ip?: string; vars?: Record<string, string> } = {}) => ({
  uri,
  host: o.host ?? 'localhost',
  method: o.method ?? 'GET',
  clientIp: o.ip ?? '127.0.0.1',
  getVar: (n: string) => o.vars?.[n],
});
const match = (r: Router<R>, uri: string, o?: Parameters<typeof reqOf>[1]) => r.match(reqOf(uri, o))?.id;

test('R-RTE-1 exact pattern matches only the exact path', () => {
  const r = new Router([route('1', ['/anything'])]);
  assert.equal(match(r, '/anything'), '1');
  assert.equal(match(r, '/anything/'), undefined);
  assert.equal(match(r, '/anything/x'), undefined);
  assert.equal(match(r, '/Anything'), undefined, 'case-sensitive');
});

test('R-RTE-1 prefix pattern with * matches every path starting with the literal part', () => {
  const r = new Router([route('1', ['/blog/bar*'])]);
  for (const p of ['/blog/bar', '/blog/bar/a', '/blog/barx']) assert.equal(match(r, p), '1', p);
  assert.equal(match(r, '/blog/ba'), undefined);
  const all = new Router([route('all', ['/*'])]);
  for (const p of ['/', '/a', '/a/b/c']) assert.equal(match(all, p), 'all', p);
});

test('R-RTE-1 parameter segments match one non-empty segment', () => {
  const r = new Router([route('1', ['/user/:id/profile']), route('2', ['/files/:name/*'])]);
  assert.equal(match(r, '/user/42/profile'), '1');
  assert.equal(match(r, '/user//profile'), undefined);
  assert.equal(match(r, '/user/42/profile/x'), undefined);
  assert.equal(match(r, '/files/a/b/c'), '2');
});

test('R-RTE-1 a route with uris matches when any pattern matches', () => {
  const r = new Router([route('1', ['/a', '/b/*'])]);
  assert.equal(match(r, '/a'), '1');
  assert.equal(match(r, '/b/c'), '1');
  assert.equal(match(r, '/c'), undefined);
});

test('R-RTE-1 path normalization: percent-decoding, dot segments, repeated slashes', () => {
  assert.equal(normalizePath('/a%20b'), '/a b');
  assert.equal(normalizePath('/a/./b/../c'), '/a/c');
  assert.equal(normalizePath('//a///b'), '/a/b');
  assert.equal(normalizePath('/a/b/..'), '/a/');
  assert.equal(normalizePath('/../../x'), '/x');
  assert.equal(normalizePath('/%2e%2e/secret'), '/secret');
  assert.equal(normalizePath('/%ff'), '/\ufffd');
  assert.equal(normalizePath('/%zz'), undefined);
  assert.equal(normalizePath('http://example.com/p?x'), '/p?x');
});

test('R-RTE-2 ordering example: exact before prefix, longer prefix first', () => {
  const r = new Router([route('a', ['/blog/foo/*']), route('b', ['/blog/foo/a/*']), route('c', ['/blog/foo/bar'])]);
  assert.equal(match(r, '/blog/foo/a/b/c'), 'b');
  assert.equal(match(r, '/blog/foo/gloo'), 'a');
  assert.equal(match(r, '/blog/bar'), undefined);
  assert.equal(match(r, '/blog/foo/bar'), 'c');
});

test('R-RTE-2 same pattern: higher priority first, then ascending key; falls through on failed conditions', () => {
  const r = new Router([
    route('2', ['/p']),
    route('1', ['/p']),
    route('3', ['/p'], { priority: 5, methods: new Set(['POST']) }),
  ]);
  assert.equal(match(r, '/p', { method: 'POST' }), '3');
  assert.equal(match(r, '/p', { method: 'GET' }), '1');
  const c = [...r.candidates('/p')].map((x) => x.id);
  assert.deepEqual(c, ['3', '1', '2']);
});

test('R-RTE-3 hosts: exact, wildcard, *, and host-less fallback', () => {
  const r = new Router([
    route('none', ['/h']),
    route('exact', ['/h'], { hosts: compileHosts(['api.example.com']) }),
    route('wild', ['/h'], { hosts: compileHosts(['*.example.org']) }),
    route('star', ['/s'], { hosts: compileHosts(['*']) }),
  ]);
  assert.equal(match(r, '/h', { host: 'api.example.com' }), 'exact');
  assert.equal(match(r, '/h', { host: 'x.example.org' }), 'wild');
  assert.equal(match(r, '/h', { host: 'example.org' }), 'none');
  assert.equal(match(r, '/h', { host: 'other' }), 'none');
  assert.equal(match(r, '/s', { host: 'anything' }), 'star');
  // a host-bearing prefix route beats a host-less exact route
  const r2 = new Router([route('exact-nohost', ['/x']), route('prefix-host', ['/*'], { hosts: compileHosts(['a.com']) })]);
  assert.equal(match(r2, '/x', { host: 'a.com' }), 'prefix-host');
  assert.equal(match(r2, '/x', { host: 'b.com' }), 'exact-nohost');
});

test('R-RTE-4 methods', () => {
  const r = new Router([route('1', ['/m'], { methods: new Set(['GET', 'POST']) })]);
  assert.equal(match(r, '/m', { method: 'POST' }), '1');
  assert.equal(match(r, '/m', { method: 'DELETE' }), undefined);
});

test('R-RTE-5 remote_addrs with IPs and CIDRs (v4 and v6)', () => {
  const r = new Router([route('1', ['/ip'], { remoteAddrs: compileIpMatcher(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32']) })]);
  assert.equal(match(r, '/ip', { ip: '10.1.2.3' }), '1');
  assert.equal(match(r, '/ip', { ip: '::ffff:10.1.2.3' }), '1');
  assert.equal(match(r, '/ip', { ip: '192.168.1.5' }), '1');
  assert.equal(match(r, '/ip', { ip: '192.168.1.6' }), undefined);
  assert.equal(match(r, '/ip', { ip: '2001:db8:1::1' }), '1');
  assert.equal(match(r, '/ip', { ip: '2001:db9::1' }), undefined);
  assert.throws(() => compileIpMatcher(['10.0.0.0/33']));
});

test('R-RTE-8 vars conditions take part in matching', () => {
  const r = new Router([
    route('v', ['/v'], { priority: 1, vars: compileExpression([['arg_env', '==', 'beta']]) }),
    route('d', ['/v']),
  ]);
  assert.equal(match(r, '/v', { vars: { arg_env: 'beta' } }), 'v');
  assert.equal(match(r, '/v', { vars: { arg_env: 'prod' } }), 'd');
});
