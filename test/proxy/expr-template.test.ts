import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpression } from '../../src/core/expr.js';
import { compileTemplate } from '../../src/core/template.js';

const ev = (expr: unknown, vars: Record<string, any>) => compileExpression(expr)({ getVar: (n: string) => vars[n] });

test('R-RTE-8 comparison operators (numeric when both sides are numbers)', () => {
  assert.equal(ev([['a', '==', 'x']], { a: 'x' }), true);
  assert.equal(ev([['a', '==', 'x']], { a: 'y' }), false);
  assert.equal(ev([['a', '~=', 'x']], { a: 'y' }), true);
  assert.equal(ev([['a', '~=', 'x']], {}), true);
  assert.equal(ev([['n', '==', 10]], { n: '10' }), true);
  assert.equal(ev([['n', '>', 10]], { n: '11' }), true);
  assert.equal(ev([['n', '>', 10]], { n: '9' }), false);
  assert.equal(ev([['n', '>=', 10]], { n: 10 }), true);
  assert.equal(ev([['n', '<', 10]], { n: '9.5' }), true);
  assert.equal(ev([['n', '<=', 10]], { n: 'abc' }), false);
});

test('R-RTE-8 regex operators ~~ and ~*, in, has, ipmatch', () => {
  assert.equal(ev([['ua', '~~', '^curl/']], { ua: 'curl/8.0' }), true);
  assert.equal(ev([['ua', '~~', '^CURL/']], { ua: 'curl/8.0' }), false);
  assert.equal(ev([['ua', '~*', '^CURL/']], { ua: 'curl/8.0' }), true);
  assert.equal(ev([['ua', '~~', 'x']], {}), false);
  assert.equal(ev([['m', 'in', ['GET', 'HEAD']]], { m: 'HEAD' }), true);
  assert.equal(ev([['m', 'in', ['GET', 'HEAD']]], { m: 'POST' }), false);
  assert.equal(ev([['l', 'has', 'b']], { l: ['a', 'b'] }), true);
  assert.equal(ev([['l', 'has', 'c']], { l: ['a', 'b'] }), false);
  assert.equal(ev([['ip', 'ipmatch', ['10.0.0.0/8', '::1']]], { ip: '10.2.3.4' }), true);
  assert.equal(ev([['ip', 'ipmatch', ['10.0.0.0/8']]], { ip: '11.2.3.4' }), false);
});

test('R-RTE-8 negation: "!" element and !-prefixed operators', () => {
  assert.equal(ev([['a', '!', '==', 'x']], { a: 'x' }), false);
  assert.equal(ev([['a', '!~~', '^x']], { a: 'xy' }), false);
  assert.equal(ev([['a', '!~~', '^x']], { a: 'yx' }), true);
  assert.equal(ev([['n', '!', '>', 15]], { n: 10 }), true);
});

test('R-RTE-8 all conditions must hold; nested OR / AND / !AND', () => {
  const vars = { a: '1', b: '2' };
  assert.equal(ev([['a', '==', '1'], ['b', '==', '2']], vars), true);
  assert.equal(ev([['a', '==', '1'], ['b', '==', '3']], vars), false);
  assert.equal(ev([['OR', ['a', '==', '9'], ['b', '==', '2']]], vars), true);
  assert.equal(ev(['OR', ['a', '==', '9'], ['b', '==', '9']], vars), false);
  assert.equal(ev(['AND', ['a', '==', '1'], ['OR', ['b', '==', '9'], ['b', '==', '2']]], vars), true);
  assert.equal(ev(['!AND', ['a', '==', '1'], ['b', '==', '2']], vars), false);
  assert.equal(ev([], vars), true);
});

test('R-RTE-8 R-RES-2 invalid expressions throw with a reason', () => {
  assert.throws(() => compileExpression('x'), /array/);
  assert.throws(() => compileExpression(['a', '==', 'b']), /wrapped inside brackets/);
  assert.throws(() => compileExpression([['a', 'like', 'b']]), /invalid operator 'like'/);
  assert.throws(() => compileExpression([['a', '~~', '(']]), /regex/);
  assert.throws(() => compileExpression([['a', '>', 'abc']]), /number/);
  assert.throws(() => compileExpression([['a', 'x', '==', 'b']]), /bad 'not' expression/);
  assert.throws(() => compileExpression(['OR', ['a', '==', 'b']]), /rule too short/);
  assert.throws(() => compileExpression([['a', 'in', 'b']]), /array/);
  assert.throws(() => compileExpression([['a', 'ipmatch', ['nope']]]), /invalid ip/);
});

test('R-VAR-20 templates: $name, ${name}, ${name ?? default}, \\$', () => {
  const vars: Record<string, string> = { consumer_name: 'john', 'a.b': 'dot', route_id: '1' };
  const g = (n: string) => vars[n];
  assert.deepEqual(compileTemplate('$consumer_name-$route_id').render(g), { text: 'john-1', resolved: true });
  assert.deepEqual(compileTemplate('${consumer_name}x').render(g), { text: 'johnx', resolved: true });
  assert.deepEqual(compileTemplate('$a.b').render(g), { text: 'dot', resolved: true });
  assert.deepEqual(compileTemplate('${missing ?? anon}').render(g), { text: 'anon', resolved: false });
  assert.deepEqual(compileTemplate('$missing|').render(g), { text: '|', resolved: false });
  assert.deepEqual(compileTemplate('\\$consumer_name').render(g), { text: '$consumer_name', resolved: false });
  assert.deepEqual(compileTemplate('plain').render(g), { text: 'plain', resolved: false });
  assert.deepEqual(compileTemplate('cost $ 5').render(g), { text: 'cost $ 5', resolved: false });
  assert.deepEqual(compileTemplate('${missing ?? x} $route_id').render(g), { text: 'x 1', resolved: true });
});
