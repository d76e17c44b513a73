// fast-check arbitraries generated from the JSON Schemas the Admin API
// validates with (the subset the resource and plugin schemas use), and
// mutations that turn a value into a likely invalid one.
import fc from 'fast-check';

type S = Record<string, any>;

const MAX_DEPTH = 5;

function stringArb(s: S): fc.Arbitrary<string> {
  if (s.format === 'ipv4') return fc.ipV4();
  if (s.format === 'ipv6') return fc.ipV6();
  const minLength = s.minLength ?? 0;
  const maxLength = Math.min(s.maxLength ?? 12, minLength + 12);
  if (typeof s.pattern === 'string') {
    let re: RegExp;
    try {
      re = new RegExp(s.pattern);
    } catch {
      return fc.string({ minLength, maxLength });
    }
    return fc.stringMatching(re).filter((x) => x.length >= minLength && x.length <= (s.maxLength ?? Infinity) && x.length < 64);
  }
  return fc.string({ minLength, maxLength });
}

function numberArb(s: S, integer: boolean): fc.Arbitrary<number> {
  let min = typeof s.minimum === 'number' ? s.minimum : -1000;
  let max = typeof s.maximum === 'number' ? s.maximum : Math.max(min + 1000, 1000);
  if (s.exclusiveMinimum === true) min = min + (integer ? 1 : 0.001);
  else if (typeof s.exclusiveMinimum === 'number') min = s.exclusiveMinimum + (integer ? 1 : 0.001);
  if (typeof s.exclusiveMaximum === 'number') max = s.exclusiveMaximum - (integer ? 1 : 0.001);
  if (integer) return fc.integer({ min: Math.ceil(min), max: Math.max(Math.ceil(min), Math.floor(max)) });
  return fc.double({ min, max: Math.max(min, max), noNaN: true, noDefaultInfinity: true });
}

/** an arbitrary for values of schema `s` (mostly valid; combinators beyond the subset are ignored) */
export function arbFor(s: S | boolean | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (s === false) return fc.constant(null);
  if (s === undefined || s === true || typeof s !== 'object') return fc.jsonValue({ maxDepth: 1 });
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (Array.isArray(alts) && alts.some((a: S) => a.type || a.properties || a.enum || a.format)) {
    const base = { ...s };
    delete base.anyOf;
    delete base.oneOf;
    return fc.oneof(...alts.map((a: S) => arbFor({ ...base, ...a }, depth)));
  }
  let type = s.type;
  if (Array.isArray(type)) return fc.oneof(...type.map((t: string) => arbFor({ ...s, type: t }, depth)));
  if (type === undefined) type = s.properties ? 'object' : s.items ? 'array' : undefined;
  switch (type) {
    case 'string': return stringArb(s);
    case 'integer': return numberArb(s, true);
    case 'number': return numberArb(s, false);
    case 'boolean': return fc.boolean();
    case 'null': return fc.constant(null);
    case 'array': {
      if (depth >= MAX_DEPTH) return fc.constant([]);
      const item = arbFor(s.items, depth + 1);
      const minLength = s.minItems ?? 0;
      const maxLength = Math.min(s.maxItems ?? 3, minLength + 3);
      return s.uniqueItems ? fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) }) : fc.array(item, { minLength, maxLength });
    }
    case 'object': {
      if (depth >= MAX_DEPTH) return fc.constant({});
      const props: Record<string, S> = s.properties ?? {};
      const required = new Set<string>(s.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = arbFor(v, depth + 1);
      const keys = Object.keys(record);
      const base = keys.length
        ? fc.record(record, { requiredKeys: keys.filter((k) => required.has(k)) })
        : fc.constant({});
      if (s.patternProperties && !keys.length) {
        const [pat, sub] = Object.entries(s.patternProperties as Record<string, S>)[0]!;
        return fc.dictionary(stringArb({ pattern: pat === '.*' ? '^[a-z0-9_.:-]{1,10}$' : pat }), arbFor(sub, depth + 1), { maxKeys: 3 });
      }
      return base;
    }
    default:
      return fc.jsonValue({ maxDepth: 1 });
  }
}

/** paths to every member of a JSON value */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths((v as S)[k], [...at, k], out);
  return out;
}

const junk = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, '', ' ', 'a\r\nX-Injected: 1', 'a\u0000b', '\u202e', '../../etc', '{"$ne":1}', [], {}, [[[]]], { __proto__: 1 }, 'x'.repeat(5000)),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }),
);

export type Mutation = { op: 'none' } | { op: 'set'; path: (string | number)[]; value: unknown } | { op: 'delete'; path: (string | number)[] } | { op: 'add'; path: (string | number)[]; key: string; value: unknown };

/** an arbitrary mutation of `v` */
export function mutationOf(v: unknown): fc.Arbitrary<Mutation> {
  const ps = paths(v);
  const objs = ps.filter((p) => { const x = get(v, p); return x && typeof x === 'object' && !Array.isArray(x); });
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<Mutation>({ op: 'none' }) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...ps), junk).map(([path, value]) => ({ op: 'set', path, value }) as Mutation) },
    { weight: 2, arbitrary: fc.constantFrom(...ps).map((path) => ({ op: 'delete', path }) as Mutation) },
    { weight: 1, arbitrary: objs.length ? fc.tuple(fc.constantFrom(...objs), fc.constantFrom('unknown_key', 'id', '__proto__', 'constructor', 'plugins', 'create_time'), junk).map(([path, key, value]) => ({ op: 'add', path, key, value }) as Mutation) : fc.constant<Mutation>({ op: 'none' }) },
  );
}

function get(v: unknown, p: (string | number)[]): unknown {
  let x: any = v;
  for (const k of p) x = x?.[k];
  return x;
}

/** applies `m` to a deep copy of `v` */
export function mutate(v: unknown, m: Mutation): unknown {
  if (m.op === 'none') return v;
  const copy = JSON.parse(JSON.stringify(v));
  if (m.path.length === 0) return m.op === 'set' ? m.value : m.op === 'delete' ? undefined : copy;
  const parent: any = get(copy, m.path.slice(0, -1));
  const last = m.path[m.path.length - 1]!;
  if (m.op === 'set') parent[last] = m.value;
  else if (m.op === 'delete') { if (Array.isArray(parent)) parent.splice(Number(last), 1); else delete parent[last]; }
  else Object.defineProperty(get(copy, m.path) as object, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
  return copy;
}
