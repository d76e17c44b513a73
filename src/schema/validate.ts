// JSON Schema validation with APISIX's error wording (R-GEN-5).
// Validators are compiled once per schema object and cached.
//
// ajv (draft 4) does the validating; this module only decides which of the
// failures APISIX's Lua `jsonschema` library would have reported first and
// renders it the way that library does:
//  - nested failures carry one prefix per level (`property "x" validation
//    failed: `, `failed to validate item <i>: `, `allOf <i> failed: `, ...);
//  - the first failure is chosen in the order the Lua library checks
//    keywords (type, object keywords, array, string, number, enum, allOf,
//    anyOf, oneOf, not, format, const, if/then/else).
import { isIPv4, isIPv6 } from 'node:net';
import Ajv from 'ajv-draft-04';
import type { ValidateFunction, ErrorObject } from 'ajv';

export type ValidationResult =
  | { ok: true; value: any }
  | { ok: false; error: string };

const ajv = new (Ajv as any)({
  allErrors: true,
  verbose: true,
  useDefaults: true,
  strict: false,
  logger: false,
  unicodeRegExp: false,
  validateSchema: false,
  formats: {
    ipv4: (s: string) => isIPv4(s),
    ipv6: (s: string) => isIPv6(s),
  },
}) as import('ajv').default;

interface Compiled {
  fn: ValidateFunction;
  /** the (normalized) schema ajv compiled; error paths point into it */
  schema: any;
}

const cache = new WeakMap<object, Compiled>();

function compiled(schema: object): Compiled {
  let c = cache.get(schema);
  if (!c) {
    const normalized = normalize(schema);
    c = { fn: ajv.compile(normalized), schema: normalized };
    cache.set(schema, c);
  }
  return c;
}

/**
 * Accept the draft-6 numeric form of exclusiveMinimum/exclusiveMaximum
 * (APISIX's Lua library accepts both) by rewriting it to draft 4.
 * Works on a copy; the caller's schema object is never modified.
 */
function normalize(schema: unknown): any {
  if (Array.isArray(schema)) return schema.map(normalize);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  const src = schema as Record<string, unknown>;
  for (const k of Object.keys(src)) {
    const v = src[k];
    // `enum`, `default`, `const`, `examples` hold data, not schemas
    out[k] = k === 'enum' || k === 'default' || k === 'const' || k === 'examples' ? v : normalize(v);
  }
  for (const [ex, lim] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof out[ex] === 'number') {
      out[lim] = out[ex];
      out[ex] = true;
    }
  }
  return out;
}

/**
 * Validate `data` against `schema`. On success `value` is a deep copy with
 * schema defaults applied; `data` itself is never modified.
 */
export function validateSchema(schema: object, data: unknown): ValidationResult {
  const copy = data === undefined ? undefined : structuredClone(data);
  const c = compiled(schema);
  if (c.fn(copy)) return { ok: true, value: copy };
  return { ok: false, error: translateErrors(c.fn.errors ?? [], c.schema, data) };
}

// ---------------------------------------------------------------------------
// error translation

/** Lua's `%q`: the quoting the Lua library uses for names and patterns */
export function luaQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\0') out += '\\0';
    else out += ch;
  }
  return out + '"';
}

/** Lua's tostring() of a number (LuaJIT: %.14g) */
export function luaNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return '0';
  const [mant, expStr] = n.toExponential(13).split('e');
  const exp = Number(expStr);
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 14) {
    const e = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
    return `${trim(mant!)}e${exp < 0 ? '-' : '+'}${e}`;
  }
  return trim(n.toFixed(Math.max(0, 13 - exp)));
}

/** Lua type name of a decoded JSON value */
export function luaType(v: unknown): string {
  if (v === undefined || v === null) return 'nil';
  if (typeof v === 'object') return 'table';
  if (typeof v === 'bigint') return 'number';
  return typeof v; // string, number, boolean
}

function utf8Len(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function parsePointer(p: string): string[] {
  const s = p.startsWith('#') ? p.slice(1) : p;
  if (s === '' || s === '/') return s === '/' ? [''] : [];
  return s
    .slice(1)
    .split('/')
    .map((x) => decodeURIComponentSafe(x).replace(/~1/g, '/').replace(/~0/g, '~'));
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// Lua library check order (see module comment). Lower ranks are reported first.
const RANK: Record<string, number> = {
  $ref: 0,
  type: 1,
  properties: 10,
  required: 11,
  dependencies: 12,
  patternProperties: 13,
  additionalProperties: 13,
  minProperties: 14,
  maxProperties: 15,
  minItems: 20,
  maxItems: 21,
  items: 22,
  additionalItems: 22,
  uniqueItems: 23,
  minLength: 30,
  maxLength: 31,
  pattern: 32,
  minimum: 40,
  exclusiveMinimum: 41,
  maximum: 42,
  exclusiveMaximum: 43,
  multipleOf: 44,
  enum: 50,
  allOf: 60,
  anyOf: 61,
  oneOf: 62,
  not: 63,
  format: 64,
  const: 65,
  if: 66,
};

/** keywords whose sub-schema failures are summarized by the keyword's own error */
const BRANCHING = new Set(['anyOf', 'oneOf', 'not', 'if', 'then', 'else', 'propertyNames', 'contains']);

interface Candidate {
  order: number[];
  message: string;
  seq: number;
}

function dataKeyIndex(d: unknown, key: string | undefined): number {
  if (!d || typeof d !== 'object' || key === undefined) return 0;
  const i = Object.keys(d).indexOf(key);
  return i < 0 ? 0 : i;
}

function itemPrefix(container: unknown, seg: string): string {
  if (Array.isArray(container)) return `failed to validate item ${Number(seg) + 1}: `;
  return `property ${luaQuote(seg)} validation failed: `;
}

function leafMessage(e: ErrorObject, node: any, value: unknown): string {
  const p = e.params as Record<string, any>;
  switch (e.keyword) {
    case 'required':
      return `property ${luaQuote(String(p.missingProperty))} is required`;
    case 'dependencies':
      return `property ${luaQuote(String(p.missingProperty))} is required when ${luaQuote(String(p.property))} is set`;
    case 'type': {
      const t = node?.type;
      if (Array.isArray(t)) return `wrong type: expected one of ${t.join(', ')}, got ${luaType(value)}`;
      return `wrong type: expected ${String(p.type ?? t)}, got ${luaType(value)}`;
    }
    case 'enum':
      return 'matches none of the enum values';
    case 'const':
      return 'failed to check const value';
    case 'minimum':
    case 'exclusiveMinimum': {
      const lim = luaNumber(Number(p.limit ?? node?.minimum));
      const excl = p.comparison === '>' || (e.keyword === 'exclusiveMinimum');
      return `expected ${luaNumber(Number(value))} to be ${excl ? 'greater than' : 'at least'} ${lim}`;
    }
    case 'maximum':
    case 'exclusiveMaximum': {
      const lim = luaNumber(Number(p.limit ?? node?.maximum));
      const excl = p.comparison === '<' || (e.keyword === 'exclusiveMaximum');
      return `expected ${luaNumber(Number(value))} to be ${excl ? 'smaller than' : 'at most'} ${lim}`;
    }
    case 'multipleOf':
      return `expected ${luaNumber(Number(value))} to be a multiple of ${luaNumber(Number(p.multipleOf))}`;
    case 'minLength':
      return `string too short, expected at least ${p.limit}, got ${utf8Len(String(value))}`;
    case 'maxLength':
      return `string too long, expected at most ${p.limit}, got ${utf8Len(String(value))}`;
    case 'pattern':
      return `failed to match pattern ${luaQuote(String(p.pattern))} with ${luaQuote(String(value))}`;
    case 'minItems':
      return `expect array to have at least ${p.limit} items`;
    case 'maxItems':
      return `expect array to have at most ${p.limit} items`;
    case 'uniqueItems': {
      const a = Math.min(p.i, p.j) + 1;
      const b = Math.max(p.i, p.j) + 1;
      return `expected unique items but items ${a} and ${b} are equal`;
    }
    case 'minProperties':
      return `expect object to have at least ${p.limit} properties`;
    case 'maxProperties':
      return `expect object to have at most ${p.limit} properties`;
    case 'additionalProperties':
      return `additional properties forbidden, found ${p.additionalProperty}`;
    case 'additionalItems':
      return 'found unexpected extra items in array';
    case 'anyOf': {
      const branches: unknown[] = Array.isArray(node?.anyOf) ? node.anyOf : [];
      const req = branches
        .filter((b): b is { required: unknown[] } => !!b && typeof b === 'object' && Array.isArray((b as any).required))
        .map((b) => JSON.stringify(b.required));
      return req.length ? `object matches none of the required: ${req.join(' or ')}` : 'object matches none of the required';
    }
    case 'oneOf': {
      const passing = p.passingSchemas as number[] | null;
      if (Array.isArray(passing) && passing.length >= 2) {
        return `value should match only one schema, but matches both schemas ${passing[0]! + 1} and ${passing[1]! + 1}`;
      }
      return 'value should match only one schema, but matches none';
    }
    case 'not':
      return "value wasn't supposed to match schema";
    case 'if':
      return `${p.failingKeyword === 'else' ? 'else' : 'then'} clause did not match`;
    case 'format': {
      const f = String(p.format);
      if (f === 'ipv4' || f === 'ipv6') return `expect valid ${f} address but got: ${String(value)}`;
      return `expect valid ${f} but got: ${String(value)}`;
    }
    case 'false schema':
      return 'expect false always';
    default:
      return e.message ?? 'validation failed';
  }
}

/** steps of a schema path that move to a child of the instance */
const INSTANCE_STEP = new Set(['properties', 'patternProperties', 'additionalProperties', 'items', 'additionalItems']);
/** keywords followed by a name or index in a schema path */
const WITH_ARG = new Set(['properties', 'patternProperties', 'allOf', 'anyOf', 'oneOf', 'dependencies', 'definitions', '$defs']);

interface Step {
  kw: string;
  arg?: string;
}

function parseSteps(segs: string[]): Step[] {
  const steps: Step[] = [];
  let i = 0;
  const last = segs.length - 1;
  while (i < last) {
    const kw = segs[i]!;
    if (WITH_ARG.has(kw) || (kw === 'items' && i + 1 < last && /^\d+$/.test(segs[i + 1]!))) {
      steps.push({ kw, arg: segs[i + 1] });
      i += 2;
    } else {
      steps.push({ kw });
      i += 1;
    }
  }
  return steps;
}

/**
 * Render one ajv error the Lua way. Walks the error's schema path through the
 * compiled schema and the instance path through the data, collecting the
 * prefixes and an ordering key. Returns undefined for failures inside
 * anyOf/oneOf/not/if branches (the combinator's own error speaks for them).
 */
function render(e: ErrorObject, root: any, data: unknown, seq: number): Candidate | undefined {
  let segs = parsePointer(e.schemaPath);
  const inst = parsePointer(e.instancePath);
  let node: any = root;
  // a $ref compiled as its own function reports paths relative to the referenced schema
  if ((segs[0] === 'definitions' || segs[0] === '$defs') && segs.length > 2) {
    segs = segs.slice(2);
    node = undefined;
  }
  const steps = parseSteps(segs);
  if (steps.some((st) => BRANCHING.has(st.kw))) return undefined;
  const consumed = steps.filter((st) => INSTANCE_STEP.has(st.kw)).length;
  let outer = inst.length - consumed;
  if (outer < 0) outer = 0;
  if (outer > 0) node = undefined; // the path starts below the root (a separately compiled $ref)

  let d: unknown = data;
  let prefix = '';
  const order: number[] = [];
  let ii = 0;
  for (; ii < outer; ii++) {
    const seg = inst[ii]!;
    prefix += itemPrefix(d, seg);
    order.push(Array.isArray(d) ? RANK.items! : RANK.properties!, Array.isArray(d) ? Number(seg) : dataKeyIndex(d, seg), 0);
    d = (d as any)?.[seg];
  }
  const propIndex = (n: any, name: string) => {
    const names = n && typeof n.properties === 'object' ? Object.keys(n.properties) : [];
    return names.indexOf(name);
  };
  for (const st of steps) {
    switch (st.kw) {
      case 'properties': {
        const name = st.arg!;
        order.push(RANK.properties!, Math.max(0, propIndex(node, name)), 0);
        prefix += `property ${luaQuote(name)} validation failed: `;
        node = node?.properties?.[name];
        d = (d as any)?.[name];
        ii++;
        break;
      }
      case 'patternProperties': {
        const prop = inst[ii] ?? '';
        order.push(RANK.patternProperties!, dataKeyIndex(d, prop), 0);
        prefix += `failed to validate ${prop} (matching ${luaQuote(st.arg!)}): `;
        node = node?.patternProperties?.[st.arg!];
        d = (d as any)?.[prop];
        ii++;
        break;
      }
      case 'additionalProperties': {
        const prop = inst[ii] ?? '';
        order.push(RANK.additionalProperties!, dataKeyIndex(d, prop), 0);
        prefix += `failed to validate additional property ${prop}: `;
        node = node?.additionalProperties;
        d = (d as any)?.[prop];
        ii++;
        break;
      }
      case 'items': {
        const idx = st.arg !== undefined ? Number(st.arg) : Number(inst[ii]);
        order.push(RANK.items!, idx, 0);
        prefix += `failed to validate item ${idx + 1}: `;
        node = st.arg !== undefined ? node?.items?.[idx] : node?.items;
        d = (d as any)?.[idx];
        ii++;
        break;
      }
      case 'additionalItems': {
        const idx = Number(inst[ii]);
        order.push(RANK.additionalItems!, idx, 0);
        prefix += `failed to validate additional item ${idx + 1}: `;
        node = node?.additionalItems;
        d = (d as any)?.[idx];
        ii++;
        break;
      }
      case 'allOf': {
        const n = Number(st.arg);
        order.push(RANK.allOf!, n, 0);
        prefix += `allOf ${n + 1} failed: `;
        node = node?.allOf?.[n];
        break;
      }
      case 'dependencies': {
        const prop = st.arg!;
        const pi = propIndex(node, prop);
        order.push(pi >= 0 ? RANK.properties! : RANK.dependencies!, pi >= 0 ? pi : 0, 1);
        prefix += `failed to validate dependent schema for ${luaQuote(prop)}: `;
        node = node?.dependencies?.[prop];
        break;
      }
      default:
        // $ref and other steps that do not change the instance
        node = undefined;
    }
  }
  const ev = e as ErrorObject & { parentSchema?: any; data?: unknown };
  const leafNode = ev.parentSchema ?? node;
  const value = 'data' in ev ? ev.data : d;
  const kw = e.keyword;
  // ordering of the failing keyword itself
  if (kw === 'required') {
    const missing = String((e.params as any).missingProperty);
    const pi = propIndex(leafNode, missing);
    const ri = Array.isArray(leafNode?.required) ? leafNode.required.indexOf(missing) : 0;
    order.push(pi >= 0 ? RANK.properties! : RANK.required!, pi >= 0 ? pi : Math.max(0, ri), 2);
  } else if (kw === 'dependencies') {
    const prop = String((e.params as any).property);
    const pi = propIndex(leafNode, prop);
    order.push(pi >= 0 ? RANK.properties! : RANK.dependencies!, pi >= 0 ? pi : 0, 1);
  } else if (kw === 'additionalProperties') {
    order.push(RANK.additionalProperties!, dataKeyIndex(value, String((e.params as any).additionalProperty)), 0);
  } else {
    order.push(RANK[kw] ?? 99, 0, 0);
  }
  return { order, message: prefix + leafMessage(e, leafNode, value), seq };
}

function compareOrder(a: Candidate, b: Candidate): number {
  const n = Math.min(a.order.length, b.order.length);
  for (let i = 0; i < n; i++) {
    const d = a.order[i]! - b.order[i]!;
    if (d !== 0) return d;
  }
  if (a.order.length !== b.order.length) return a.order.length - b.order.length;
  return a.seq - b.seq;
}

/** the APISIX text of the first failure, among ajv's (allErrors) error list */
export function translateErrors(errors: ErrorObject[], schema: any, data: unknown): string {
  let best: Candidate | undefined;
  errors.forEach((e, seq) => {
    const c = render(e, schema, data, seq);
    if (c && (!best || compareOrder(c, best) < 0)) best = c;
  });
  if (best) return best.message;
  const e = errors[errors.length - 1];
  return e ? leafMessage(e, undefined, undefined) : 'validation failed';
}
