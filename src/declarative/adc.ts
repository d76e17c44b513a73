// ADC file format (R-DECL-10..16) -> Admin API resources with ADC's ids
// (R-DECL-12): service = sha1(name), route = sha1("<service>.<route>"),
// credential = sha1("<username>.<credential>"), global rule = plugin name.
import type { Json, JsonObject } from '../core/types.js';
import { substituteAdc } from './env.js';
import { DeclarativeError, isObject, sha1, type Resource } from './model.js';

const ID_RE = /^[a-zA-Z0-9-_.]+$/;

const UNSUPPORTED_TOP = ['ssls', 'consumer_groups', 'plugin_metadata', 'stream_routes'];
const TOP_KEYS = ['services', 'consumers', 'global_rules'];
const SERVICE_KEYS = ['id', 'name', 'description', 'labels', 'hosts', 'upstream', 'plugins', 'routes'];
const SERVICE_UNSUPPORTED = ['upstreams', 'path_prefix', 'strip_path_prefix'];
const ROUTE_KEYS = [
  'id', 'name', 'description', 'labels', 'uris', 'methods', 'hosts', 'priority', 'vars', 'timeout',
  'remote_addrs', 'enable_websocket', 'plugins',
];
const CONSUMER_KEYS = ['username', 'description', 'labels', 'plugins', 'credentials'];
const CREDENTIAL_KEYS = ['id', 'name', 'type', 'config', 'description', 'labels'];

/** Parsed ADC content: resources plus the names used (for cross-file duplicate checks). */
export interface AdcResult {
  resources: Resource[];
}

class Ctx {
  constructor(readonly file: string) {}
  fail(path: string, msg: string): never {
    throw new DeclarativeError(this.file, path, msg);
  }
  keys(obj: Record<string, unknown>, path: string, allowed: string[], unsupported: string[] = []): void {
    for (const k of Object.keys(obj)) {
      if (unsupported.includes(k)) this.fail(join(path, k), `${k} is not supported by switchyard`);
      if (!allowed.includes(k)) this.fail(join(path, k), `unknown key "${k}"`);
    }
  }
  object(v: unknown, path: string): Record<string, unknown> {
    if (!isObject(v)) this.fail(path, `expected an object, got ${typeName(v)}`);
    return v;
  }
  list(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `expected a list, got ${typeName(v)}`);
    return v;
  }
  /** a list that may be left out (absent or null: empty) */
  optionalList(v: unknown, path: string): unknown[] {
    return v === undefined || v === null ? [] : this.list(v, path);
  }
  /** `obj[key]`, a non-empty string not in `seen` (then added to it); `what` names the kind in the error */
  uniqueName(obj: Record<string, unknown>, key: string, path: string, what: string, seen: Set<string>): string {
    const name = this.string(obj[key], join(path, key));
    if (seen.has(name)) this.fail(path, `Duplicate ${what} "${name}" was found in ${this.file}`);
    seen.add(name);
    return name;
  }
  string(v: unknown, path: string): string {
    if (typeof v !== 'string' || v === '') this.fail(path, `expected a non-empty string, got ${typeName(v)}`);
    return v;
  }
  id(v: unknown, path: string): string {
    const s = typeof v === 'number' && Number.isInteger(v) && v > 0 ? String(v) : v;
    if (typeof s !== 'string' || s.length < 1 || s.length > 256 || !ID_RE.test(s)) {
      this.fail(path, `invalid id ${JSON.stringify(v)}: expected 1-256 characters matching ^[a-zA-Z0-9-_.]+$`);
    }
    return s;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** ADC label values may be lists; the Admin API gets them JSON-encoded (R-DECL-2). */
function labels(ctx: Ctx, v: unknown, path: string): JsonObject {
  const obj = ctx.object(v, path);
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(obj)) {
    if (Array.isArray(val)) out[k] = JSON.stringify(val);
    else if (typeof val === 'string') out[k] = val;
    else if (typeof val === 'number' || typeof val === 'boolean') out[k] = String(val);
    else ctx.fail(join(path, k), `expected a string or a list, got ${typeName(val)}`);
  }
  return out;
}

/** copy the common metadata: description -> desc, labels */
function meta(ctx: Ctx, src: Record<string, unknown>, path: string, out: JsonObject): void {
  if (src.description !== undefined) {
    if (typeof src.description !== 'string') ctx.fail(join(path, 'description'), `expected a string, got ${typeName(src.description)}`);
    out.desc = src.description;
  }
  if (src.labels !== undefined) out.labels = labels(ctx, src.labels, join(path, 'labels'));
}

function plugins(ctx: Ctx, v: unknown, path: string): JsonObject {
  return ctx.object(v, path) as JsonObject;
}

/**
 * Parse an ADC document (already YAML/JSON-decoded). Environment references
 * are substituted in string values first (R-DECL-11).
 */
export function parseAdc(doc: unknown, file: string, env: NodeJS.ProcessEnv = process.env): AdcResult {
  const ctx = new Ctx(file);
  if (doc === null || doc === undefined) return { resources: [] };
  const top = ctx.object(substituteAdc(doc, env), '');
  ctx.keys(top, '', TOP_KEYS, UNSUPPORTED_TOP);
  const resources: Resource[] = [];

  const serviceNames = new Set<string>();
  const services = ctx.optionalList(top.services, 'services');
  services.forEach((raw, i) => {
    const path = `services[${i}]`;
    const s = ctx.object(raw, path);
    ctx.keys(s, path, SERVICE_KEYS, SERVICE_UNSUPPORTED);
    const name = ctx.uniqueName(s, 'name', path, 'service', serviceNames);
    const id = s.id !== undefined ? ctx.id(s.id, join(path, 'id')) : sha1(name);
    const value: JsonObject = { id, name };
    meta(ctx, s, path, value);
    if (s.hosts !== undefined) value.hosts = ctx.list(s.hosts, join(path, 'hosts')) as Json[];
    if (s.upstream !== undefined) value.upstream = ctx.object(s.upstream, join(path, 'upstream')) as JsonObject;
    if (s.plugins !== undefined) value.plugins = plugins(ctx, s.plugins, join(path, 'plugins'));
    resources.push({ kind: 'service', id, value, source: { file, path, adc: true } });

    const routeNames = new Set<string>();
    const routes = ctx.optionalList(s.routes, join(path, 'routes'));
    routes.forEach((rraw, j) => {
      const rpath = `${path}.routes[${j}]`;
      const r = ctx.object(rraw, rpath);
      if (r.uri !== undefined) ctx.fail(join(rpath, 'uri'), 'unknown key "uri" (ADC routes use "uris")');
      ctx.keys(r, rpath, ROUTE_KEYS);
      const rname = ctx.uniqueName(r, 'name', rpath, 'route', routeNames);
      if (r.uris === undefined) ctx.fail(join(rpath, 'uris'), 'property "uris" is required');
      const rid = r.id !== undefined ? ctx.id(r.id, join(rpath, 'id')) : sha1(`${name}.${rname}`);
      const rv: JsonObject = { id: rid, name: rname };
      meta(ctx, r, rpath, rv);
      for (const k of ['uris', 'methods', 'hosts', 'priority', 'vars', 'timeout', 'remote_addrs', 'enable_websocket'] as const) {
        if (r[k] !== undefined) rv[k] = r[k] as Json;
      }
      if (r.plugins !== undefined) rv.plugins = plugins(ctx, r.plugins, join(rpath, 'plugins'));
      rv.service_id = id;
      rv.status = 1;
      resources.push({ kind: 'route', id: rid, value: rv, source: { file, path: rpath, adc: true } });
    });
  });

  const usernames = new Set<string>();
  const consumers = ctx.optionalList(top.consumers, 'consumers');
  consumers.forEach((raw, i) => {
    const path = `consumers[${i}]`;
    const c = ctx.object(raw, path);
    ctx.keys(c, path, CONSUMER_KEYS);
    const username = ctx.uniqueName(c, 'username', path, 'consumer', usernames);
    const value: JsonObject = { username };
    meta(ctx, c, path, value);
    if (c.plugins !== undefined) value.plugins = plugins(ctx, c.plugins, join(path, 'plugins'));
    resources.push({ kind: 'consumer', id: username, value, source: { file, path, adc: true } });

    const credNames = new Set<string>();
    const creds = ctx.optionalList(c.credentials, join(path, 'credentials'));
    creds.forEach((craw, j) => {
      const cpath = `${path}.credentials[${j}]`;
      const cr = ctx.object(craw, cpath);
      ctx.keys(cr, cpath, CREDENTIAL_KEYS);
      const cname = ctx.uniqueName(cr, 'name', cpath, 'credential', credNames);
      const type = ctx.string(cr.type, join(cpath, 'type'));
      if (type !== 'key-auth') ctx.fail(join(cpath, 'type'), `credential type "${type}" is not supported by switchyard`);
      const config = cr.config === undefined ? {} : ctx.object(cr.config, join(cpath, 'config'));
      const cid = cr.id !== undefined ? ctx.id(cr.id, join(cpath, 'id')) : sha1(`${username}.${cname}`);
      const cv: JsonObject = { id: cid, name: cname };
      meta(ctx, cr, cpath, cv);
      cv.plugins = { [type]: config as JsonObject };
      resources.push({ kind: 'credential', id: cid, username, value: cv, source: { file, path: cpath, adc: true } });
    });
  });

  if (top.global_rules !== undefined && top.global_rules !== null) {
    const rules = ctx.object(top.global_rules, 'global_rules');
    for (const [plugin, conf] of Object.entries(rules)) {
      const path = join('global_rules', plugin);
      resources.push({
        kind: 'global_rule',
        id: ctx.id(plugin, path),
        value: { id: plugin, plugins: { [plugin]: conf as Json } },
        source: { file, path, adc: true },
      });
    }
  }
  return { resources };
}
