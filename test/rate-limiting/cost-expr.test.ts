import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCostExpr } from '../../src/plugins/ai-rate-limiting/cost-expr.js';

const anthropic = { input_tokens: 50, cache_read_input_tokens: 200, cache_creation_input_tokens: 100, output_tokens: 30 };

test('R-RL-9 spec examples: weighted cache tokens 225, negative clamped to 0, absent identifier is 0', () => {
  assert.equal(compileCostExpr('input_tokens + cache_read_input_tokens * 0.1 + cache_creation_input_tokens * 1.25 + output_tokens').cost(anthropic), 225);
  assert.equal(compileCostExpr('input_tokens - cache_read_input_tokens').cost(anthropic), 0);
  assert.equal(compileCostExpr('input_tokens - cache_read_input_tokens').evaluate(anthropic), -150);
  assert.equal(compileCostExpr('input_tokens + nonexistent_field + output_tokens').cost(anthropic), 80);
  assert.equal(compileCostExpr('input_tokens + cache_creation_input_tokens + output_tokens').cost(anthropic), 180);
  assert.equal(compileCostExpr('prompt_tokens + completion_tokens * 4').cost({ prompt_tokens: 23, completion_tokens: 8 }), 55);
});

test('R-RL-9 operators, precedence, parentheses, unary minus, power (Lua semantics)', () => {
  const e = (s: string, u: Record<string, unknown> = {}) => compileCostExpr(s).evaluate(u);
  assert.equal(e('1 + 2 * 3'), 7);
  assert.equal(e('(1 + 2) * 3'), 9);
  assert.equal(e('10 / 4'), 2.5);
  assert.equal(e('7 % 3'), 1);
  assert.equal(e('-7 % 3'), 2, 'Lua modulo takes the sign of the divisor');
  assert.equal(e('2 ^ 3 ^ 2'), 512, 'right associative');
  assert.equal(e('-2 ^ 2'), -4, 'power binds tighter than unary minus');
  assert.equal(e('2 ^ -1'), 0.5);
  assert.equal(e('- -3'), 3);
  assert.equal(e('1e2 + .5'), 100.5);
  assert.equal(e('a*b', { a: 3, b: 4 }), 12);
});

test('R-RL-9 functions abs ceil floor max min, also as math.*', () => {
  const e = (s: string, u: Record<string, unknown> = {}) => compileCostExpr(s).evaluate(u);
  assert.equal(e('abs(-3)'), 3);
  assert.equal(e('math.abs(-3)'), 3);
  assert.equal(e('ceil(1.2) + floor(1.8)'), 3);
  assert.equal(e('math.ceil(x / 1000)', { x: 1001 }), 2);
  assert.equal(e('max(a, b, 3)', { a: 1, b: 7 }), 7);
  assert.equal(e('math.min(a, b)', { a: 1, b: 7 }), 1);
});

test('R-RL-9 rounding: nearest integer, halves up', () => {
  assert.equal(compileCostExpr('x').cost({ x: 2.5 }), 3);
  assert.equal(compileCostExpr('x').cost({ x: 2.49 }), 2);
  assert.equal(compileCostExpr('x').cost({ x: -0.4 }), 0);
});

test('R-RL-9 non-finite or non-numeric results are errors', () => {
  assert.throws(() => compileCostExpr('x / 0').cost({ x: 1 }), /finite/);
  assert.throws(() => compileCostExpr('0 / 0').cost({}), /finite/);
  assert.throws(() => compileCostExpr('details + 1').cost({ details: { a: 1 } }), /not a number/);
  assert.equal(compileCostExpr('n + 1').cost({ n: null }), 1);
});

test('R-RL-1 R-RL-9 invalid expressions are rejected with a reason; nothing is evaluated as code', () => {
  for (const bad of ['', '   ', '1 +', '(1 + 2', '1 + 2)', 'foo(1)', 'os.exit(1)', 'a.b', 'max', 'abs(1, 2)', 'a; b', 'a = 1', '"x"', '1 2', 'process.exit()', 'max()']) {
    assert.throws(() => compileCostExpr(bad), Error, bad);
  }
  assert.throws(() => compileCostExpr('1 $ 2'), /unexpected character '\$' at position 3/);
  assert.throws(() => compileCostExpr('1 +'), /unexpected end of expression/);
});
