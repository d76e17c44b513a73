// Resource checks, free of HTTP: the part of an Admin API write that
// decides whether a value may be stored (R-RES-1..9, R-RES-2 order). Used by
// the Admin API and by the declarative `sync` command.
import type { JsonObject } from '../core/types.js';
import { validateSchema } from '../schema/validate.js';
import { compileExpression } from '../core/expr.js';
import { getPlugin } from '../plugins/registry.js';
import { resourceSchemas, type ResourceKind } from './schemas.js';
import { checkPlugins } from './plugins.js';
import { collectWarnings } from './warnings.js';

export type { ResourceKind };

export type ValidateResult =
  | { ok: true; value: JsonObject; /** R-ADM-70: accepted, but probably a mistake */ warnings?: string[] }
  | { ok: false; status: number; error_msg: string };

/** returns the stored value of an existing item (`/apisix/upstreams/1`), undefined when absent */
export type Lookup = (key: string) => JsonObject | undefined;

export interface ValidateOptions {
  /** items under a key prefix (for the global rule duplicate-plugin check, R-RES-8) */
  list?: (prefix: string) => Array<{ key: string; value: JsonObject }>;
  /** where `$env://` and `${{}}` references are looked up (R-ADM-70); process.env when absent */
  env?: NodeJS.ProcessEnv;
}

export const RESOURCE_KINDS: readonly ResourceKind[] = ['routes', 'services', 'consumers', 'credentials', 'global_rules', 'upstreams'];

/** R-RES-3: properties of APISIX that switchyard refuses */
const UNSUPPORTED: Partial<Record<ResourceKind, string[]>> = {
  routes: ['filter_func', 'script', 'script_id', 'plugin_config_id'],
  services: ['script'],
};

const fail = (error_msg: string, status = 400): ValidateResult => ({ ok: false, status, error_msg });

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** APISIX's check_upstream_conf beyond the schema */
function checkUpstream(up: Record<string, any>): string | undefined {
  if (up.type === 'chash' && up.hash_on !== 'consumer' && up.key === undefined) return 'missing key';
  return undefined;
}

function schemaCheck(kind: ResourceKind, value: unknown): string | undefined {
  const r = validateSchema(resourceSchemas[kind], value);
  return r.ok ? undefined : `invalid configuration: ${r.error}`;
}

/**
 * Validate a resource value as an Admin API write would (after the id was
 * placed into it). `id` is the item id (for consumers: the username from the
 * URL, when there is one). Returns the value to store (unchanged: schema
 * defaults are not stored, R-ADM-14).
 */
export function validateResource(
  kind: ResourceKind,
  id: string | number | undefined,
  value: unknown,
  lookup: Lookup,
  opts: ValidateOptions = {},
): ValidateResult {
  const r = check(kind, id, value, lookup, opts);
  if (!r.ok) return r;
  const warnings = collectWarnings(kind, r.value, lookup, opts.env);
  return warnings.length > 0 ? { ...r, warnings } : r;
}

function check(kind: ResourceKind, id: string | number | undefined, value: unknown, lookup: Lookup, opts: ValidateOptions): ValidateResult {
  if (isObject(value)) {
    for (const prop of UNSUPPORTED[kind] ?? []) {
      if (value[prop] !== undefined) {
        return fail(`invalid configuration: property "${prop}" is not supported by switchyard`);
      }
    }
  }
  switch (kind) {
    case 'routes':
      return checkRoute(value, lookup);
    case 'services':
      return checkService(value, lookup);
    case 'upstreams': {
      const err = schemaCheck('upstreams', value);
      if (err) return fail(err);
      const uerr = checkUpstream(value as Record<string, any>);
      if (uerr) return fail(uerr);
      return { ok: true, value: value as JsonObject };
    }
    case 'consumers':
      return checkConsumer(id, value);
    case 'credentials':
      return checkCredential(value);
    case 'global_rules':
      return checkGlobalRule(id, value, opts);
    default:
      return fail(`Unsupported resource type: ${String(kind)}`, 404);
  }
}

function checkReferences(v: Record<string, any>, lookup: Lookup): string | undefined {
  if (v.upstream_id !== undefined && !lookup(`/apisix/upstreams/${String(v.upstream_id)}`)) {
    return `failed to fetch upstream info by upstream id [${String(v.upstream_id)}], response code: 404`;
  }
  if (v.service_id !== undefined && !lookup(`/apisix/services/${String(v.service_id)}`)) {
    return `failed to fetch service info by service id [${String(v.service_id)}], response code: 404`;
  }
  return undefined;
}

function checkRoute(value: unknown, lookup: Lookup): ValidateResult {
  if (isObject(value)) {
    if (value.host !== undefined && value.hosts !== undefined) return fail('only one of host or hosts is allowed');
    if (value.remote_addr !== undefined && value.remote_addrs !== undefined) {
      return fail('only one of remote_addr or remote_addrs is allowed');
    }
  }
  const err = schemaCheck('routes', value);
  if (err) return fail(err);
  const v = value as Record<string, any>;
  if (isObject(v.upstream)) {
    const uerr = checkUpstream(v.upstream);
    if (uerr) return fail(uerr);
  }
  const rerr = checkReferences(v, lookup);
  if (rerr) return fail(rerr);
  if (isObject(v.plugins)) {
    const perr = checkPlugins(v.plugins, 'route');
    if (perr) return fail(perr.error);
  }
  if (v.vars !== undefined) {
    try {
      compileExpression(v.vars);
    } catch (e) {
      return fail(`failed to validate the 'vars' expression: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  return { ok: true, value: v as JsonObject };
}

function checkService(value: unknown, lookup: Lookup): ValidateResult {
  const err = schemaCheck('services', value);
  if (err) return fail(err);
  const v = value as Record<string, any>;
  if (isObject(v.upstream)) {
    const uerr = checkUpstream(v.upstream);
    if (uerr) return fail(uerr);
  }
  if (v.upstream_id !== undefined && !lookup(`/apisix/upstreams/${String(v.upstream_id)}`)) {
    return fail(`failed to fetch upstream info by upstream id [${String(v.upstream_id)}], response code: 404`);
  }
  if (isObject(v.plugins)) {
    const perr = checkPlugins(v.plugins, 'route');
    if (perr) return fail(perr.error);
  }
  return { ok: true, value: v as JsonObject };
}

function checkConsumer(username: string | number | undefined, value: unknown): ValidateResult {
  const err = schemaCheck('consumers', value);
  if (err) return fail(err);
  const v = value as Record<string, any>;
  if (username !== undefined && String(username) !== v.username) return fail('wrong username');
  if (isObject(v.plugins)) {
    const perr = checkPlugins(v.plugins, 'consumer');
    if (perr) return fail(perr.whole ? perr.error : `invalid plugins configuration: ${perr.error}`);
  }
  if (v.group_id !== undefined) {
    // consumer groups are out of scope (R-RES-6)
    return fail(`failed to fetch consumer group info by consumer group id [${String(v.group_id)}], response code: 404`);
  }
  return { ok: true, value: v as JsonObject };
}

function checkCredential(value: unknown): ValidateResult {
  const err = schemaCheck('credentials', value);
  if (err) return fail(err);
  const v = value as Record<string, any>;
  if (isObject(v.plugins)) {
    const perr = checkPlugins(v.plugins, 'consumer');
    if (perr) return fail(perr.whole ? perr.error : `invalid plugins configuration: ${perr.error}`);
    for (const name of Object.keys(v.plugins)) {
      if (getPlugin(name)?.type !== 'auth') return fail('only supports auth type plugins in consumer credential');
    }
  }
  return { ok: true, value: v as JsonObject };
}

function checkGlobalRule(id: string | number | undefined, value: unknown, opts: ValidateOptions): ValidateResult {
  const err = schemaCheck('global_rules', value);
  if (err) return fail(err);
  const v = value as Record<string, any>;
  if (isObject(v.plugins)) {
    const perr = checkPlugins(v.plugins, 'route');
    if (perr) return fail(perr.error);
    if (opts.list) {
      const self = id === undefined ? undefined : String(id);
      const others = opts.list('/apisix/global_rules/');
      for (const name of Object.keys(v.plugins)) {
        for (const item of others) {
          const otherId = item.key.slice('/apisix/global_rules/'.length);
          if (otherId === self) continue;
          const op = item.value.plugins as unknown;
          if (isObject(op) && op[name] !== undefined) {
            return fail(`plugin '${name}' already exists in global rule with id '${otherId}'`);
          }
        }
      }
    }
  }
  return { ok: true, value: v as JsonObject };
}
