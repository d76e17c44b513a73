// Property-based fuzzing of the two expression languages a configuration
// carries (issue 16): ai-rate-limiting's cost_expr (R-RL-9) and the route
// `vars` expressions (R-RTE-8). Any input either compiles or is refused with
// a plain Error whose message is the reason (the Admin API turns it into a
// 400); a compiled expression never throws while evaluated, except cost()'s
// documented errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileCostExpr, MAX_DEPTH } from '../../src/plugins/ai-rate-limiting/cost-expr.js';
import { compileExpression, evalWithVars } from '../../src/core/expr.js';
import { check } from './params.js';

/** the thrown value is the error path's: a plain Error with a reason */
function refusedCleanly(fn: () => unknown): { ok: true; value: unknown } | { ok: false; msg: string } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    assert.ok(e instanceof Error, `threw a non-Error: ${String(e)}`);
    assert.equal(e.constructor, Error, `threw ${e.constructor.name}: ${e.message}`);
    assert.ok(e.message.length > 0, 'empty error message');
    return { ok: false, msg: e.message };
  }
}

// ---- cost_expr ------------------------------------------------------------

type CNode = { n: number } | { v: string } | { neg: CNode } | { op: string; a: CNode; b: CNode } | { fn: string; args: CNode[] };

const usageNames = ['prompt_tokens', 'completion_tokens', 'total_tokens', 'cache_read', 'missing'];
const cnode: fc.Arbitrary<CNode> = fc.letrec<{ node: CNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ n: fc.oneof(fc.nat(1000), fc.double({ min: 0, max: 1e6, noNaN: true })) }),
    fc.record({ v: fc.constantFrom(...usageNames) }),
    fc.record({ neg: tie('node') }),
    fc.record({ op: fc.constantFrom('+', '-', '*', '/', '%', '^'), a: tie('node'), b: tie('node') }),
    fc.record({ fn: fc.constantFrom('abs', 'ceil', 'floor', 'max', 'min', 'math.max', 'math.floor'), args: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
  ),
})).node;

const FN: Record<string, (...a: number[]) => number> = { abs: Math.abs, ceil: Math.ceil, floor: Math.floor, max: Math.max, min: Math.min };

function refEval(n: CNode, u: Record<string, number>): number {
  if ('n' in n) return n.n;
  if ('v' in n) return u[n.v] ?? 0;
  if ('neg' in n) return -refEval(n.neg, u);
  if ('fn' in n) {
    const f = n.fn.replace('math.', '');
    const args = n.args.map((a) => refEval(a, u));
    return (f === 'abs' || f === 'ceil' || f === 'floor') ? FN[f]!(args[0]!) : FN[f]!(...args);
  }
  const a = refEval(n.a, u);
  const b = refEval(n.b, u);
  switch (n.op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case '%': return a - Math.floor(a / b) * b;
    default: return a ** b;
  }
}

/** fully parenthesised source with the spacing `ws` picks */
function render(n: CNode, ws: () => string): string {
  if ('n' in n) return String(n.n);
  if ('v' in n) return n.v;
  if ('neg' in n) return `(-${ws()}(${render(n.neg, ws)}))`;
  if ('fn' in n) {
    const base = n.fn.replace('math.', '');
    const f = base === 'abs' || base === 'ceil' || base === 'floor' ? [n.args[0]!] : n.args;
    return `${n.fn}(${f.map((a) => ws() + render(a, ws) + ws()).join(',')})`;
  }
  return `(${ws()}${render(n.a, ws)}${ws()}${n.op}${ws()}${render(n.b, ws)}${ws()})`;
}

const same = (a: number, b: number) => Object.is(a, b) || a === b || (Number.isNaN(a) && Number.isNaN(b));
const usage = fc.record({ prompt_tokens: fc.nat(100000), completion_tokens: fc.nat(100000), total_tokens: fc.nat(200000), cache_read: fc.nat(1000) });

test('issue 16 R-RL-9 fuzz: generated cost expressions compile and evaluate like the reference evaluator', async (t) => {
  await check('expressions', 'cost-expr-reference', 400, fc.property(cnode, usage, fc.array(fc.constantFrom('', ' ', '\t', '\n'), { minLength: 1, maxLength: 5 }), (n, u, spaces) => {
    let i = 0;
    const src = render(n, () => spaces[i++ % spaces.length]!);
    const e = compileCostExpr(src);
    const want = refEval(n, u);
    const got = e.evaluate(u);
    assert.ok(same(got, want), `${src}: got ${got}, want ${want}`);
    const r = refusedCleanly(() => e.cost(u));
    if (Number.isFinite(want)) {
      assert.equal(r.ok, true);
      const c = (r as { value: number }).value;
      assert.ok(Number.isInteger(c) && c >= 0, `cost ${c}`);
    } else {
      assert.equal(r.ok, false, `non-finite ${want} must be refused`);
    }
  }), (m) => t.diagnostic(m));
});

const costAlphabet = fc.constantFrom('1', '2.5', 'e3', '.', 'x', 'prompt_tokens', 'math.', 'max', 'min', 'abs', '(', ')', ',', '+', '-', '*', '/', '%', '^', ' ', '$', '\u0000', 'é', '1e400', 'math.pi', '((', '))');
const costSource = fc.oneof(
  fc.array(costAlphabet, { maxLength: 40 }).map((a) => a.join('')),
  fc.string({ maxLength: 40 }),
  fc.integer({ min: 1, max: 3 * MAX_DEPTH }).map((d) => '('.repeat(d) + '1' + ')'.repeat(d)),
  fc.integer({ min: 1, max: 20000 }).map((d) => '-'.repeat(d) + '1'),
  fc.integer({ min: 1, max: 20000 }).map((d) => Array(d).fill('1').join('+')),
  fc.integer({ min: 1, max: 3000 }).map((d) => 'max('.repeat(d) + '1' + ')'.repeat(d)),
);
const anyUsage = fc.dictionary(fc.constantFrom(...usageNames, 'x'), fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.constant({})));

test('issue 16 R-RL-9 fuzz: any cost_expr source compiles or is refused with a reason; evaluation never throws past cost()\'s errors', async (t) => {
  await check('expressions', 'cost-expr-garbage', 400, fc.property(costSource, anyUsage, (src, u) => {
    const c = refusedCleanly(() => compileCostExpr(src));
    if (!c.ok) return;
    const e = c.value as ReturnType<typeof compileCostExpr>;
    refusedCleanly(() => e.evaluate(u));
    const r = refusedCleanly(() => e.cost(u));
    if (!r.ok) assert.match(r.msg, /not a finite number|is not a number/);
  }), (m) => t.diagnostic(m));
});

// ---- vars expressions -----------------------------------------------------

const varName = fc.constantFrom('arg_a', 'http_x', 'uri', 'remote_addr', 'post_arg.model', 'cookie_c', '');
const ops = ['==', '~=', '!=', '>', '>=', '<', '<=', '~~', '~*', 'in', 'has', 'ipmatch', '!~~', '!in', 'IN', 'bogus', '!', ''];
const scalar = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 300 }), fc.double(), fc.boolean(), fc.constant(null));
const operand = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.constantFrom('127.0.0.1', '10.0.0.0/8', '::1', '300.1.1.1/99', '(?i)^a', '[', '(a+)+$', 'a{2,'), fc.array(fc.constantFrom('127.0.0.1', '::/0', 'nope'), { maxLength: 2 }));
const condition = fc.oneof(
  fc.tuple(varName, fc.constantFrom(...ops), operand),
  fc.tuple(varName, fc.constant('!'), fc.constantFrom(...ops), operand),
  fc.tuple(varName, operand),
);
const rule: fc.Arbitrary<unknown> = fc.letrec<{ r: unknown }>((tie) => ({
  r: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    condition,
    fc.tuple(fc.constantFrom('OR', 'AND', '!OR', '!AND', 'or'), tie('r'), tie('r')),
    fc.array(tie('r'), { minLength: 1, maxLength: 3 }),
  ),
})).r;
const exprInput = fc.oneof(
  { weight: 5, arbitrary: fc.array(rule, { maxLength: 3 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 900 }).map((d) => { let e: unknown = ['arg_a', '==', '1']; for (let i = 0; i < d; i++) e = ['OR', e, ['arg_b', '==', 'x']]; return [e]; }) },
);
const varMap = fc.dictionary(fc.constantFrom('arg_a', 'arg_b', 'http_x', 'uri', 'remote_addr', 'post_arg.model', 'cookie_c'), fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constantFrom('127.0.0.1', '10.1.2.3', '::1', 'not-an-ip')));

test('issue 16 R-RTE-8 fuzz: any vars expression compiles or is refused with a reason; a compiled one evaluates to a boolean and never throws', async (t) => {
  await check('expressions', 'vars-garbage', 500, fc.property(exprInput, fc.array(varMap, { minLength: 1, maxLength: 4 }), (input, maps) => {
    const c = refusedCleanly(() => compileExpression(input));
    if (!c.ok) return;
    const e = c.value as ReturnType<typeof compileExpression>;
    for (const m of maps) assert.equal(typeof evalWithVars(e, m), 'boolean');
  }), (m) => t.diagnostic(m));
});

test('issue 16 R-RTE-8 fuzz: "!" and !OR/!AND negate exactly; AND/OR follow boolean logic', async (t) => {
  const valid = fc.tuple(fc.constantFrom('arg_a', 'arg_b'), fc.constantFrom('==', '~=', '>', '<=', '~~', 'in'), fc.constantFrom('1', 'x', '^a'))
    .map(([v, op, val]) => (op === '>' || op === '<=' ? [v, op, 1] : op === 'in' ? [v, op, [val, '2']] : [v, op, val]));
  await check('expressions', 'vars-logic', 500, fc.property(valid, valid, varMap, (a, b, m) => {
    const ev = (x: unknown) => evalWithVars(compileExpression(x), m);
    const A = ev([a]);
    const B = ev([b]);
    assert.equal(ev([[a[0], '!', a[1], a[2]]]), !A);
    assert.equal(ev(['OR', a, b]), A || B);
    assert.equal(ev(['AND', a, b]), A && B);
    assert.equal(ev(['!OR', a, b]), !(A || B));
    assert.equal(ev(['!AND', a, b]), !(A && B));
    assert.equal(ev([a, b]), A && B);
  }), (m) => t.diagnostic(m));
});
