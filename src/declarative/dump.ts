// Running resources -> a declarative document that `sync` reads back with no
// changes (R-DECL-31). ADC when every resource has an ADC form; otherwise
// (a route without a service, a route with `uri`, a standalone upstream, ...)
// APISIX standalone YAML, which represents any Admin API resource as is.
import YAML from 'yaml';
import type { Json, JsonObject } from '../core/types.js';
import { escapeAdcString } from './env.js';
import { isObject, sha1, stripServerFields, type Resource } from './model.js';

const SERVICE_FIELDS = new Set(['id', 'name', 'desc', 'labels', 'hosts', 'upstream', 'plugins']);
const ROUTE_FIELDS = new Set([
  'id', 'name', 'desc', 'labels', 'uris', 'methods', 'hosts', 'priority', 'vars', 'timeout',
  'remote_addrs', 'enable_websocket', 'plugins', 'service_id', 'status',
]);
const CONSUMER_FIELDS = new Set(['username', 'desc', 'labels', 'plugins']);
const CREDENTIAL_FIELDS = new Set(['id', 'name', 'desc', 'labels', 'plugins']);
const ROUTE_ORDER = ['uris', 'methods', 'hosts', 'priority', 'vars', 'timeout', 'remote_addrs', 'enable_websocket'];

/** why a resource has no ADC form (undefined when it has one) */
function adcObstacle(r: Resource, all: Map<string, Resource>): string | undefined {
  const v = stripServerFields(r.value);
  const extra = (allowed: Set<string>) => Object.keys(v).find((k) => !allowed.has(k));
  const labelsOk = v.labels === undefined || (isObject(v.labels) && Object.values(v.labels).every((x) => typeof x === 'string'));
  if (!labelsOk) return 'labels';
  switch (r.kind) {
    case 'upstream':
      return 'standalone upstream';
    case 'service': {
      const k = extra(SERVICE_FIELDS);
      if (k) return `service field ${k}`;
      if (typeof v.name !== 'string' || v.name === '') return 'service without name';
      return undefined;
    }
    case 'route': {
      const k = extra(ROUTE_FIELDS);
      if (k) return `route field ${k}`;
      if (typeof v.name !== 'string' || v.name === '') return 'route without name';
      if (v.status !== 1) return 'route status';
      if (!Array.isArray(v.uris)) return 'route without uris';
      if (v.service_id === undefined || !all.has(`service:${String(v.service_id)}`)) return 'route without service';
      if (adcObstacle(all.get(`service:${String(v.service_id)}`)!, all)) return 'route of a service without ADC form';
      return undefined;
    }
    case 'consumer': {
      const k = extra(CONSUMER_FIELDS);
      return k ? `consumer field ${k}` : undefined;
    }
    case 'credential': {
      const k = extra(CREDENTIAL_FIELDS);
      if (k) return `credential field ${k}`;
      if (typeof v.name !== 'string' || v.name === '') return 'credential without name';
      if (!isObject(v.plugins) || Object.keys(v.plugins).length !== 1 || !isObject(v.plugins['key-auth'])) return 'credential plugins';
      return undefined;
    }
    case 'global_rule': {
      const plugins = v.plugins;
      if (Object.keys(v).some((k) => k !== 'id' && k !== 'plugins')) return 'global rule fields';
      if (!isObject(plugins) || Object.keys(plugins).length !== 1 || Object.keys(plugins)[0] !== r.id) return 'global rule id';
      return undefined;
    }
  }
}

/** the first obstacle to an ADC form, or undefined when the whole set has one */
export function adcObstacles(resources: Resource[]): string[] {
  const all = new Map(resources.map((r) => [`${r.kind}:${r.kind === 'credential' ? r.username + '/' : ''}${r.id}`, r]));
  const out: string[] = [];
  for (const r of resources) {
    const o = adcObstacle(r, all);
    if (o) out.push(`${r.kind} ${r.username ? r.username + '/' : ''}${r.id}: ${o}`);
  }
  return out;
}

function escapeStrings(v: unknown): unknown {
  if (typeof v === 'string') return escapeAdcString(v);
  if (Array.isArray(v)) return v.map(escapeStrings);
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = escapeStrings(x);
    return out;
  }
  return v;
}

function byId(a: Resource, b: Resource): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** by `name` (services, routes, credentials), then id: a readable, stable order */
function byName(a: Resource, b: Resource): number {
  const na = typeof a.value.name === 'string' ? a.value.name : a.id;
  const nb = typeof b.value.name === 'string' ? b.value.name : b.id;
  return na < nb ? -1 : na > nb ? 1 : byId(a, b);
}

/** the ADC document (call only when adcObstacles() is empty) */
export function toAdc(resources: Resource[]): JsonObject {
  const val = (r: Resource) => stripServerFields(r.value);
  const meta = (v: JsonObject, out: JsonObject) => {
    if (v.desc !== undefined) out.description = v.desc;
    if (v.labels !== undefined) out.labels = v.labels;
  };
  const services: Json[] = [];
  for (const s of resources.filter((r) => r.kind === 'service').sort(byName)) {
    const v = val(s);
    const name = v.name as string;
    const out: JsonObject = { name };
    if (s.id !== sha1(name)) out.id = s.id;
    meta(v, out);
    for (const k of ['hosts', 'upstream', 'plugins']) if (v[k] !== undefined) out[k] = v[k]!;
    const routes: Json[] = [];
    for (const r of resources.filter((x) => x.kind === 'route' && String(x.value.service_id) === s.id).sort(byName)) {
      const rv = val(r);
      const rname = rv.name as string;
      const ro: JsonObject = { name: rname };
      if (r.id !== sha1(`${name}.${rname}`)) ro.id = r.id;
      meta(rv, ro);
      for (const k of ROUTE_ORDER) if (rv[k] !== undefined) ro[k] = rv[k]!;
      if (rv.plugins !== undefined) ro.plugins = rv.plugins;
      routes.push(ro);
    }
    if (routes.length > 0) out.routes = routes;
    services.push(out);
  }
  const consumers: Json[] = [];
  for (const c of resources.filter((r) => r.kind === 'consumer').sort(byId)) {
    const v = val(c);
    const out: JsonObject = { username: c.id };
    meta(v, out);
    if (v.plugins !== undefined) out.plugins = v.plugins;
    const creds: Json[] = [];
    for (const cr of resources.filter((r) => r.kind === 'credential' && r.username === c.id).sort(byName)) {
      const cv = val(cr);
      const cname = cv.name as string;
      const co: JsonObject = { name: cname };
      if (cr.id !== sha1(`${c.id}.${cname}`)) co.id = cr.id;
      meta(cv, co);
      const [type, config] = Object.entries(cv.plugins as JsonObject)[0]!;
      co.type = type;
      co.config = config;
      creds.push(co);
    }
    if (creds.length > 0) out.credentials = creds;
    consumers.push(out);
  }
  const globalRules: JsonObject = {};
  for (const g of resources.filter((r) => r.kind === 'global_rule').sort(byId)) {
    globalRules[g.id] = (g.value.plugins as JsonObject)[g.id]!;
  }
  const doc: JsonObject = {};
  if (services.length > 0) doc.services = services;
  if (consumers.length > 0) doc.consumers = consumers;
  if (Object.keys(globalRules).length > 0) doc.global_rules = globalRules;
  return escapeStrings(doc) as JsonObject;
}

/** the standalone document: every resource in Admin API form */
export function toStandalone(resources: Resource[]): JsonObject {
  const doc: JsonObject = {};
  const add = (coll: string, v: JsonObject) => ((doc[coll] ??= []) as Json[]).push(v);
  const sorted = [...resources].sort(byId);
  for (const kind of ['upstream', 'service', 'route', 'global_rule'] as const) {
    for (const r of sorted.filter((x) => x.kind === kind)) add(`${kind}s`, { ...stripServerFields(r.value), id: r.id });
  }
  for (const c of sorted.filter((x) => x.kind === 'consumer')) {
    const v = stripServerFields(c.value);
    delete v.id;
    add('consumers', v);
    for (const cr of sorted.filter((x) => x.kind === 'credential' && x.username === c.id)) {
      add('consumers', { ...stripServerFields(cr.value), id: `${c.id}/credentials/${cr.id}` });
    }
  }
  return doc;
}

export interface DumpResult {
  format: 'adc' | 'standalone';
  text: string;
  /** why the ADC form could not be used */
  obstacles: string[];
}

export function dumpResources(resources: Resource[], format?: 'adc' | 'standalone'): DumpResult {
  const obstacles = adcObstacles(resources);
  const fmt = format ?? (obstacles.length === 0 ? 'adc' : 'standalone');
  if (fmt === 'adc' && obstacles.length > 0) {
    throw new Error(`the running configuration has no ADC form: ${obstacles.join('; ')}`);
  }
  const doc = fmt === 'adc' ? toAdc(resources) : toStandalone(resources);
  const body = Object.keys(doc).length === 0 ? '' : YAML.stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
  const text = fmt === 'adc' ? body || '{}\n' : body + '#END\n';
  return { format: fmt, text, obstacles };
}
