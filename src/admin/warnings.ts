// R-ADM-70: mistakes a write may contain that APISIX accepts, reported as
// warnings beside a successful answer: attributes a plugin's schema does not
// describe (typos), ai-rate-limiting instance names that no ai-proxy-multi
// instance of the same route has, and environment references to unset
// variables. Admin API writes and `sync` only, never per request.
import type { JSONSchema } from '../core/types.js';
import { isSecretRef } from '../core/secrets.js';
import { closest } from '../config/suggest.js';
import { getPlugin } from '../plugins/registry.js';
import { schemaFor, type SchemaType } from './plugins.js';
import type { ResourceKind } from './schemas.js';

type Obj = Record<string, any>;
type Lookup = (key: string) => Obj | undefined;

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Properties whose objects are open by design: ai-proxy `options` carries
 * any model parameter (temperature, max_tokens, ...) into the request body.
 */
const OPEN = new Set(['options']);

const MAX_DEPTH = 32;

/** a schema and every alternative it may validate through */
function branches(s: unknown, out: Obj[] = [], depth = 0): Obj[] {
  if (!isObject(s) || depth > MAX_DEPTH) return out;
  out.push(s);
  for (const k of ['allOf', 'anyOf', 'oneOf']) {
    if (Array.isArray(s[k])) for (const b of s[k]) branches(b, out, depth + 1);
  }
  if (s.then !== undefined) branches(s.then, out, depth + 1);
  if (s.else !== undefined) branches(s.else, out, depth + 1);
  return out;
}

function suggestion(word: string, candidates: Iterable<string>): string {
  const near = closest(word, candidates);
  return near === undefined ? '' : `; did you mean ${near}?`;
}

/** unknown keys in `value`, checked against every schema that applies to it */
function unknownAttributes(schemas: Obj[], value: unknown, path: string, out: string[], depth = 0): void {
  if (depth > MAX_DEPTH) return;
  const all = schemas.flatMap((s) => branches(s));
  if (Array.isArray(value)) {
    const items = all.map((s) => s.items).filter(isObject);
    if (items.length > 0) value.forEach((v, i) => unknownAttributes(items, v, `${path}[${i}]`, out, depth + 1));
    return;
  }
  if (!isObject(value)) return;
  const described = all.filter((s) => isObject(s.properties));
  // an object no schema describes (free-form, or keyed by patternProperties) has no unknown keys
  if (described.length === 0 || all.some((s) => s.patternProperties !== undefined || isObject(s.additionalProperties))) return;
  const known = new Set(described.flatMap((s) => Object.keys(s.properties)));
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (!known.has(key)) {
      out.push(`${at}: unknown attribute, ignored${suggestion(key, known)}`);
      continue;
    }
    if (OPEN.has(key)) continue;
    const sub = described.map((s) => s.properties[key]).filter(isObject);
    if (sub.length > 0) unknownAttributes(sub, value[key], at, out, depth + 1);
  }
}

function pluginWarnings(plugins: Obj, schemaType: SchemaType, out: string[]): void {
  for (const [name, conf] of Object.entries(plugins)) {
    const def = getPlugin(name);
    if (!def) continue;
    unknownAttributes([schemaFor(def, schemaType) as JSONSchema as Obj], conf, `plugins.${name}`, out);
  }
}

function instanceNames(conf: unknown): string[] | undefined {
  if (!isObject(conf) || !Array.isArray(conf.instances)) return undefined;
  return conf.instances.filter(isObject).map((i) => i.name).filter((n): n is string => typeof n === 'string');
}

/** ai-rate-limiting `instances[].name` against the ai-proxy-multi instances of the same route (or service) */
function rateLimitInstanceWarnings(v: Obj, lookup: Lookup, out: string[]): void {
  const plugins = isObject(v.plugins) ? v.plugins : {};
  const limits = plugins['ai-rate-limiting'];
  if (!isObject(limits) || !Array.isArray(limits.instances)) return;
  let names = instanceNames(plugins['ai-proxy-multi']);
  if (names === undefined && v.service_id !== undefined) {
    const svc = lookup(`/apisix/services/${String(v.service_id)}`);
    if (isObject(svc?.plugins)) names = instanceNames(svc.plugins['ai-proxy-multi']);
  }
  limits.instances.forEach((inst: unknown, i: number) => {
    if (!isObject(inst) || typeof inst.name !== 'string') return;
    const at = `plugins.ai-rate-limiting.instances[${i}].name`;
    if (names === undefined) {
      out.push(`${at}: "${inst.name}" names no instance: this route has no ai-proxy-multi`);
    } else if (!names.includes(inst.name)) {
      out.push(`${at}: no ai-proxy-multi instance of this route is named "${inst.name}"${suggestion(inst.name, names)}`);
    }
  });
}

const ENV_REF = /\$\{\{\s*([A-Za-z0-9_]+)\s*(:=)?[^}]*\}\}/g;
const SECRET_NAME = /^\$env:\/\/([^/]*)/i;

/** `$env://NAME` and `${{NAME}}` references whose variable is unset */
function envWarnings(value: unknown, path: string, env: NodeJS.ProcessEnv, out: string[], depth = 0): void {
  if (depth > MAX_DEPTH) return;
  if (typeof value === 'string') {
    if (isSecretRef(value)) {
      const name = SECRET_NAME.exec(value)![1]!;
      if (env[name] === undefined) out.push(`${path}: environment variable ${name} is not set (${value} is used literally)`);
    }
    if (value.includes('${{')) {
      for (const m of value.matchAll(ENV_REF)) {
        if (m[2] === undefined && env[m[1]!] === undefined) out.push(`${path}: environment variable ${m[1]} is not set`);
      }
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => envWarnings(v, `${path}[${i}]`, env, out, depth + 1));
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) envWarnings(v, path ? `${path}.${k}` : k, env, out, depth + 1);
  }
}

/** the warnings of a value that passed validation (R-ADM-70) */
export function collectWarnings(kind: ResourceKind, value: unknown, lookup: Lookup, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (!isObject(value)) return out;
  if (isObject(value.plugins)) {
    pluginWarnings(value.plugins, kind === 'consumers' || kind === 'credentials' ? 'consumer' : 'route', out);
  }
  if (kind === 'routes' || kind === 'services') rateLimitInstanceWarnings(value, lookup, out);
  envWarnings(value, '', env, out);
  return out;
}
