// `post_arg.<path>` route variables on JSON bodies (R-RTE-20, APISIX 3.14+):
// a dotted path with `[n]` indexes and `[*]` wildcards, compiled once per
// configuration into an accessor over the parsed body. With a wildcard the
// values found form an array (for `has` / `in`); a missing step is undefined.

export const POST_ARG_PREFIX = 'post_arg.';

/** a key, an index, or a wildcard (`-1`) */
type Step = string | number;
const ANY = -1;

export type PostArgAccessor = (body: unknown) => unknown;

function parse(path: string): Step[] {
  const steps: Step[] = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) throw new Error(`invalid post_arg path "${path}": missing "]"`);
      const inner = path.slice(i + 1, close);
      if (inner === '*') steps.push(ANY);
      else if (/^\d+$/.test(inner)) steps.push(Number(inner));
      else throw new Error(`invalid post_arg path "${path}": "[${inner}]" is neither an index nor [*]`);
      i = close + 1;
      if (path[i] === '.') i++;
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    if (end === i) throw new Error(`invalid post_arg path "${path}": empty key`);
    steps.push(path.slice(i, end));
    i = path[end] === '.' ? end + 1 : end;
    if (path[end] === '.' && i === path.length) throw new Error(`invalid post_arg path "${path}": empty key`);
  }
  if (steps.length === 0) throw new Error('invalid post_arg path: empty');
  return steps;
}

function step(v: unknown, s: Step): unknown {
  if (v === null || typeof v !== 'object') return undefined;
  if (typeof s === 'number') return Array.isArray(v) ? v[s] : undefined;
  return Array.isArray(v) ? undefined : Object.prototype.hasOwnProperty.call(v, s) ? (v as Record<string, unknown>)[s] : undefined;
}

/** walks `steps` from `from`, pushing what the wildcards reach into `out` */
function collect(v: unknown, steps: readonly Step[], from: number, out: unknown[]): void {
  for (let i = from; i < steps.length; i++) {
    const s = steps[i]!;
    if (s === ANY) {
      if (!Array.isArray(v)) return;
      for (const item of v) collect(item, steps, i + 1, out);
      return;
    }
    v = step(v, s);
    if (v === undefined) return;
  }
  out.push(v);
}

/** compile the path after `post_arg.`; throws with the reason when it is not a path */
export function compilePostArgPath(path: string): PostArgAccessor {
  const steps = parse(path);
  if (!steps.includes(ANY)) {
    if (steps.length === 1) {
      const k = steps[0]!;
      return (body) => step(body, k);
    }
    return (body) => {
      let v = body;
      for (let i = 0; i < steps.length && v !== undefined; i++) v = step(v, steps[i]!);
      return v;
    };
  }
  return (body) => {
    const out: unknown[] = [];
    collect(body, steps, 0, out);
    return out;
  };
}

/** whether an expression (as configured) tests any `post_arg.*` variable */
export function usesPostArgs(expr: unknown, depth = 0): boolean {
  if (!Array.isArray(expr) || depth > 64) return false;
  if (typeof expr[0] === 'string' && expr[0].startsWith(POST_ARG_PREFIX)) return true;
  return expr.some((e) => usesPostArgs(e, depth + 1));
}
