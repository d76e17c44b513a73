// The declarative model: what a file (ADC or standalone) declares, as Admin
// API resources, and the errors that name the file and the path (R-DECL-14).
import { createHash } from 'node:crypto';
import type { ResourceKind as AdminKind } from '../admin/validate.js';
import type { JsonObject } from '../core/types.js';

export type ResourceKind = 'upstream' | 'service' | 'route' | 'consumer' | 'credential' | 'global_rule';

/** Admin API collection per kind (credentials live under their consumer). */
export const COLLECTION: Record<ResourceKind, AdminKind> = {
  upstream: 'upstreams',
  service: 'services',
  route: 'routes',
  consumer: 'consumers',
  credential: 'credentials',
  global_rule: 'global_rules',
};

/** Kinds in the order creates/updates are applied (references point backwards). */
export const APPLY_ORDER: ResourceKind[] = ['upstream', 'service', 'route', 'consumer', 'credential', 'global_rule'];

/** One resource as the Admin API stores it. */
export interface Resource {
  kind: ResourceKind;
  /** item id (the username for consumers) */
  id: string;
  /** consumer of a credential */
  username?: string;
  /** the value as it is PUT (no timestamps) */
  value: JsonObject;
  /** where it came from (declared resources only) */
  source?: { file: string; path: string; adc?: boolean };
}

/** A file's content after parsing, before validation against the Admin API's rules. */
export interface Declared {
  resources: Resource[];
}

/** An error in a declarative file: `<file>: <path>: <message>`. */
export class DeclarativeError extends Error {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super([file, path, detail].filter((s) => s !== '').join(': '));
    this.name = 'DeclarativeError';
  }
}

export function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** the logical store key: `/apisix/routes/<id>`, `/apisix/consumers/<u>/credentials/<id>` */
export function resourceKey(r: Pick<Resource, 'kind' | 'id' | 'username'>): string {
  if (r.kind === 'credential') return `/apisix/consumers/${r.username}/credentials/${r.id}`;
  return `/apisix/${COLLECTION[r.kind]}/${r.id}`;
}

/** the Admin API path of one item */
export function adminPath(r: Pick<Resource, 'kind' | 'id' | 'username'>): string {
  return '/apisix/admin' + resourceKey(r).slice('/apisix'.length);
}

/** the name shown in change lines: `route "ai-proxy-multi-route"` */
export function displayName(r: Resource): string {
  const v = r.value;
  if (r.kind === 'consumer') return r.id;
  if (r.kind === 'credential') return `${r.username}/${typeof v.name === 'string' ? v.name : r.id}`;
  if (r.kind === 'global_rule') return r.id;
  return typeof v.name === 'string' && v.name !== '' ? v.name : r.id;
}

export function describe(r: Resource): string {
  return `${r.kind} "${displayName(r)}"`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON with object keys sorted: equal values give equal strings */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (isObject(v)) {
    return '{' + Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

/** a stored value without the server-managed fields */
export function stripServerFields(value: JsonObject): JsonObject {
  const out: JsonObject = { ...value };
  delete out.create_time;
  delete out.update_time;
  return out;
}
