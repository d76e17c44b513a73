// cost_expr (R-RL-9): a small arithmetic language evaluated over the
// provider's raw `usage` object. Parsed once into a tree; no eval.
//
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/' | '%') unary)*
//   unary   := '-' unary | '+' unary | power
//   power   := primary ('^' unary)?          (right-associative, binds tighter than unary minus, as in Lua)
//   primary := number | name | func '(' expr (',' expr)* ')' | '(' expr ')'
//   func    := abs | ceil | floor | max | min, optionally written math.<func>
//
// A name is a top-level member of the usage object; absent (or null) is 0.

type Node =
  | { t: 'num'; v: number }
  | { t: 'var'; name: string }
  | { t: 'neg'; e: Node }
  | { t: 'bin'; op: '+' | '-' | '*' | '/' | '%' | '^'; a: Node; b: Node }
  | { t: 'call'; fn: FnName; args: Node[] };

type FnName = 'abs' | 'ceil' | 'floor' | 'max' | 'min';
const FNS: Record<FnName, { min: number; max: number; f: (...a: number[]) => number }> = {
  abs: { min: 1, max: 1, f: Math.abs },
  ceil: { min: 1, max: 1, f: Math.ceil },
  floor: { min: 1, max: 1, f: Math.floor },
  max: { min: 1, max: Infinity, f: Math.max },
  min: { min: 1, max: Infinity, f: Math.min },
};

type Tok =
  | { k: 'num'; v: number; pos: number }
  | { k: 'id'; v: string; pos: number }
  | { k: 'op'; v: string; pos: number }
  | { k: 'end'; pos: number };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) { i++; continue; }
    const num = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ k: 'num', v: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?/.exec(src.slice(i));
    if (id) {
      out.push({ k: 'id', v: id[0], pos: i });
      i += id[0].length;
      continue;
    }
    if ('+-*/%^(),'.includes(ch)) {
      out.push({ k: 'op', v: ch, pos: i });
      i++;
      continue;
    }
    throw new Error(`unexpected character '${ch}' at position ${i + 1}`);
  }
  out.push({ k: 'end', pos: src.length });
  return out;
}

function describe(t: Tok): string {
  if (t.k === 'end') return 'end of expression';
  return `'${t.v}' at position ${t.pos + 1}`;
}

/** deeper nesting is refused: the parser (and evaluation) recurse once per level */
export const MAX_DEPTH = 256;
/** longer expressions are refused: evaluation recurses once per operator of a chain */
export const MAX_TOKENS = 4096;

function parse(src: string): Node {
  const toks = tokenize(src);
  if (toks.length > MAX_TOKENS + 1) throw new Error(`expression longer than ${MAX_TOKENS} tokens`);
  let p = 0;
  let depth = 0;
  const enter = () => {
    if (++depth > MAX_DEPTH) throw new Error(`expression nested deeper than ${MAX_DEPTH} levels at ${describe(peek())}`);
  };
  const peek = () => toks[p]!;
  const isOp = (v: string) => { const t = peek(); return t.k === 'op' && t.v === v; };
  const expectOp = (v: string) => {
    if (!isOp(v)) throw new Error(`expected '${v}' but found ${describe(peek())}`);
    p++;
  };

  const expr = (): Node => {
    let a = term();
    while (isOp('+') || isOp('-')) {
      const op = (toks[p++] as { v: string }).v as '+' | '-';
      a = { t: 'bin', op, a, b: term() };
    }
    return a;
  };
  const term = (): Node => {
    let a = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = (toks[p++] as { v: string }).v as '*' | '/' | '%';
      a = { t: 'bin', op, a, b: unary() };
    }
    return a;
  };
  const unary = (): Node => {
    enter();
    let n: Node;
    if (isOp('-')) { p++; n = { t: 'neg', e: unary() }; }
    else if (isOp('+')) { p++; n = unary(); }
    else n = power();
    depth--;
    return n;
  };
  const power = (): Node => {
    const a = primary();
    if (isOp('^')) { p++; return { t: 'bin', op: '^', a, b: unary() }; }
    return a;
  };
  const primary = (): Node => {
    const t = peek();
    if (t.k === 'num') { p++; return { t: 'num', v: t.v }; }
    if (t.k === 'op' && t.v === '(') {
      p++;
      const e = expr();
      expectOp(')');
      return e;
    }
    if (t.k === 'id') {
      p++;
      const fname = t.v.startsWith('math.') ? t.v.slice(5) : t.v;
      if (isOp('(')) {
        if (!(fname in FNS)) throw new Error(`unknown function '${t.v}'`);
        p++;
        const args: Node[] = [expr()];
        while (isOp(',')) { p++; args.push(expr()); }
        expectOp(')');
        const spec = FNS[fname as FnName];
        if (args.length < spec.min || args.length > spec.max) throw new Error(`wrong number of arguments to '${t.v}'`);
        return { t: 'call', fn: fname as FnName, args };
      }
      if (t.v.includes('.')) throw new Error(`unknown name '${t.v}'`);
      if (fname in FNS) throw new Error(`function '${t.v}' used without arguments`);
      return { t: 'var', name: t.v };
    }
    throw new Error(`unexpected ${describe(t)}`);
  };

  const root = expr();
  if (peek().k !== 'end') throw new Error(`unexpected ${describe(peek())}`);
  return root;
}

function evalNode(n: Node, usage: Record<string, unknown>): number {
  switch (n.t) {
    case 'num': return n.v;
    case 'var': {
      const v = Object.prototype.hasOwnProperty.call(usage, n.name) ? usage[n.name] : undefined;
      if (v === undefined || v === null) return 0;
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw new Error(`usage field '${n.name}' is not a number`);
    }
    case 'neg': return -evalNode(n.e, usage);
    case 'call': return FNS[n.fn].f(...n.args.map((a) => evalNode(a, usage)));
    case 'bin': {
      const a = evalNode(n.a, usage);
      const b = evalNode(n.b, usage);
      switch (n.op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return a / b;
        case '%': return a - Math.floor(a / b) * b; // Lua's modulo
        case '^': return a ** b;
      }
    }
  }
}

export interface CostExpr {
  readonly source: string;
  /** names the expression reads from the usage object */
  readonly names: readonly string[];
  /** the raw value (throws when a usage member is not numeric) */
  evaluate(usage: Record<string, unknown>): number;
  /** the charge: rounded half up, negatives 0; throws on a non-finite result */
  cost(usage: Record<string, unknown>): number;
}

/** Parses `src`; throws an Error whose message is the reason when it is invalid. */
export function compileCostExpr(src: string): CostExpr {
  if (typeof src !== 'string' || src.trim() === '') throw new Error('empty expression');
  const root = parse(src);
  const names = new Set<string>();
  const walk = (n: Node): void => {
    if (n.t === 'var') names.add(n.name);
    else if (n.t === 'neg') walk(n.e);
    else if (n.t === 'bin') { walk(n.a); walk(n.b); }
    else if (n.t === 'call') n.args.forEach(walk);
  };
  walk(root);
  return {
    source: src,
    names: [...names],
    evaluate: (usage) => evalNode(root, usage ?? {}),
    cost(usage) {
      const v = evalNode(root, usage ?? {});
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`cost_expr result is not a finite number: ${v}`);
      const r = Math.floor(v + 0.5);
      return r < 0 ? 0 : r;
    },
  };
}
