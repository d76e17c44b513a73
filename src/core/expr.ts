// `vars` expressions (R-RTE-8), also used by `_meta.filter` (R-ADM-60) and
// the loggers' `include_*_body_expr`. Semantics follow lua-resty-expr:
// a list of conditions `[var, op, value]` (all must hold), nested lists
// starting with "OR" / "AND" / "!OR" / "!AND", a `"!"` element before the
// operator or a `!` prefix on it (`!~~`) negates. Compiled once (regexes and
// IP matchers built here); evaluation only reads variables.
// compileExpression throws an Error whose message is the reason when the
// expression is invalid (R-RES-2 step 6).
import type { RequestContext } from './types.js';
import { compileIpMatcher } from './ip.js';
import { POST_ARG_PREFIX, compilePostArgPath } from './post-arg.js';

/** what an expression reads: variables, and the JSON body once read for `post_arg.*` (R-RTE-20) */
export type VarGetter = Pick<RequestContext, 'getVar'> & { readonly postArgs?: unknown };
export type Expression = (ctx: VarGetter) => boolean;
type VarValue = string | number | undefined | unknown;

const LOGIC = new Set(['OR', '!OR', 'AND', '!AND']);

function toNumber(v: VarValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

function looseEq(l: VarValue, r: unknown): boolean {
  if (typeof r === 'number') {
    const n = toNumber(l);
    return n !== undefined && n === r;
  }
  if (l === undefined || l === null) return r === undefined || r === null;
  if (typeof r === 'string') return String(l) === r;
  if (typeof r === 'boolean') return l === r || String(l) === String(r);
  return false;
}

/** PCRE-ish pattern → JS RegExp (inline (?i) at the start is supported) */
function buildRegex(src: unknown, insensitive: boolean): RegExp {
  if (typeof src !== 'string') throw new Error(`invalid regex: ${JSON.stringify(src)}`);
  let s = src;
  let flags = insensitive ? 'i' : '';
  if (s.startsWith('(?i)')) {
    s = s.slice(4);
    if (!flags) flags = 'i';
  }
  try {
    return new RegExp(s, flags);
  } catch (e) {
    throw new Error(`failed to compile regex ${JSON.stringify(src)}: ${(e as Error).message}`);
  }
}

type Cmp = (l: VarValue) => boolean;

function compileOp(op: string, r: unknown): Cmp {
  switch (op) {
    case '==':
      return (l) => looseEq(l, r);
    case '~=':
      if (typeof r === 'number') return (l) => { const n = toNumber(l); return n === undefined || n !== r; };
      return (l) => !looseEq(l, r);
    case '>': case '>=': case '<': case '<=': {
      const rn = toNumber(r);
      if (rn === undefined) throw new Error(`invalid expression: the value of operator '${op}' must be a number`);
      if (op === '>') return (l) => { const n = toNumber(l); return n !== undefined && n > rn; };
      if (op === '>=') return (l) => { const n = toNumber(l); return n !== undefined && n >= rn; };
      if (op === '<') return (l) => { const n = toNumber(l); return n !== undefined && n < rn; };
      return (l) => { const n = toNumber(l); return n !== undefined && n <= rn; };
    }
    case '~~':
    case '~*': {
      const re = buildRegex(r, op === '~*');
      return (l) => l !== undefined && l !== null && re.test(String(l));
    }
    case 'in': {
      if (!Array.isArray(r)) throw new Error(`invalid expression: the value of operator 'in' must be an array`);
      const list = r as unknown[];
      // an array (a `post_arg.*[*]` wildcard, R-RTE-20) is in the list when one of its values is
      return (l) => l !== undefined && (Array.isArray(l) ? l.some((x) => list.some((v) => looseEq(x, v))) : list.some((v) => looseEq(l, v)));
    }
    case 'has':
      return (l) => {
        if (Array.isArray(l)) return l.some((v) => looseEq(v, r));
        return false;
      };
    case 'ipmatch': {
      const list = Array.isArray(r) ? r : typeof r === 'string' ? [r] : undefined;
      if (!list) throw new Error(`invalid expression: the value of operator 'ipmatch' must be an array of IPs or CIDRs`);
      const m = compileIpMatcher(list.map(String));
      return (l) => typeof l === 'string' && m(l);
    }
    default:
      throw new Error(`invalid operator '${op}'`);
  }
}

function compileCondition(rule: unknown[]): Expression {
  let name: unknown;
  let op: unknown;
  let value: unknown;
  let negate = false;
  if (rule.length === 4) {
    if (rule[1] !== '!') throw new Error(`bad 'not' expression`);
    negate = true;
    [name, , op, value] = rule;
  } else if (rule.length === 3) {
    [name, op, value] = rule;
  } else if (rule.length === 2) {
    // compatibility form [var, value] means ==
    [name, value] = rule;
    op = '==';
  } else {
    throw new Error('invalid expression');
  }
  if (typeof name !== 'string' || name === '') throw new Error('invalid expression');
  if (typeof op !== 'string') throw new Error('invalid expression');
  let o = op.toLowerCase();
  if (o.length > 1 && o[0] === '!' && o !== '!=') {
    negate = !negate;
    o = o.slice(1);
  }
  if (o === '!=') o = '~=';
  const cmp = compileOp(o, value);
  const varName = name;
  if (varName.startsWith(POST_ARG_PREFIX)) {
    // absent unless the body was read as JSON for route matching
    const get = compilePostArgPath(varName.slice(POST_ARG_PREFIX.length));
    const read = (ctx: VarGetter) => (ctx.postArgs === undefined ? undefined : get(ctx.postArgs));
    return negate ? (ctx) => !cmp(read(ctx)) : (ctx) => cmp(read(ctx));
  }
  return negate ? (ctx) => !cmp(ctx.getVar(varName)) : (ctx) => cmp(ctx.getVar(varName));
}

function compileRules(rules: unknown[]): Expression {
  if (rules.length === 0) throw new Error('rule too short');
  const first = rules[0];
  if (Array.isArray(first)) {
    const parts = rules.map((r) => {
      if (!Array.isArray(r)) throw new Error('rule should be wrapped inside brackets');
      return compileRules(r);
    });
    return and(parts);
  }
  if (typeof first === 'string' && LOGIC.has(first.toUpperCase())) {
    const op = first.toUpperCase();
    if (rules.length <= 2) throw new Error('rule too short');
    const parts = rules.slice(1).map((r) => {
      if (!Array.isArray(r)) throw new Error('rule should be wrapped inside brackets');
      return compileRules(r);
    });
    const base = op.endsWith('OR') ? or(parts) : and(parts);
    return op.startsWith('!') ? (ctx) => !base(ctx) : base;
  }
  return compileCondition(rules);
}

function and(parts: Expression[]): Expression {
  if (parts.length === 1) return parts[0]!;
  return (ctx) => {
    for (let i = 0; i < parts.length; i++) if (!parts[i]!(ctx)) return false;
    return true;
  };
}

function or(parts: Expression[]): Expression {
  return (ctx) => {
    for (let i = 0; i < parts.length; i++) if (parts[i]!(ctx)) return true;
    return false;
  };
}

const always: Expression = () => true;

/**
 * Compile an expression. An empty list is always true. Throws an Error with
 * the reason when invalid.
 */
export function compileExpression(expr: unknown): Expression {
  if (!Array.isArray(expr)) throw new Error('rule should be an array');
  if (expr.length === 0) return always;
  const first = expr[0];
  if (!Array.isArray(first)) {
    if (!(typeof first === 'string' && LOGIC.has(first.toUpperCase()))) {
      throw new Error('rule should be wrapped inside brackets');
    }
  }
  return compileRules(expr);
}

/** evaluate helper for callers holding a plain variable map */
export function evalWithVars(e: Expression, vars: Record<string, string | number | undefined>): boolean {
  const getter: VarGetter = { getVar: (n: string) => vars[n] };
  return e(getter);
}
