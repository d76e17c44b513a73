// Plugin configuration checks shared by every resource (R-RES-2 step 5,
// R-RES-6, R-RES-7, R-ADM-51, R-ADM-60): APISIX's `plugin.check_schema`.
import type { JSONSchema, PluginDef } from '../core/types.js';
import { getPlugin } from '../plugins/registry.js';
import { validateSchema } from '../schema/validate.js';
import { compileExpression } from '../core/expr.js';
import { metaSchema, INJECTED_COMMENT } from './schemas.js';

const injected = new WeakMap<object, JSONSchema>();

/**
 * The schema APISIX serves and validates with: the plugin's schema plus
 * `$comment` and `properties._meta` (R-ADM-51). Built once per schema object;
 * the plugin's own object is not modified.
 */
export function injectMeta(schema: JSONSchema): JSONSchema {
  let s = injected.get(schema);
  if (!s) {
    if (schema.type === 'object' || schema.type === undefined) {
      const props = (schema.properties ?? {}) as Record<string, unknown>;
      s = { ...schema, $comment: INJECTED_COMMENT, properties: { ...props, _meta: metaSchema } };
    } else {
      s = schema;
    }
    injected.set(schema, s);
  }
  return s;
}

export type SchemaType = 'route' | 'consumer';

/** the schema a configuration on this kind of resource is checked against */
export function schemaFor(def: PluginDef, schemaType: SchemaType): JSONSchema {
  if (schemaType === 'consumer' && def.consumerSchema) return injectMeta(def.consumerSchema);
  return injectMeta(def.schema);
}

export interface PluginCheckError {
  /** APISIX's text (to be prefixed by the caller, e.g. `invalid plugins configuration: `) */
  error: string;
  /** an R-RES-3 refusal: a complete error_msg that takes no prefix */
  whole?: boolean;
}

function encodeConf(v: unknown): string {
  if (v === undefined) return 'null';
  return JSON.stringify(v);
}

/** check one plugin configuration; undefined when valid */
export function checkPluginConf(name: string, conf: unknown, schemaType: SchemaType): PluginCheckError | undefined {
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
    return { error: `invalid plugin conf ${encodeConf(conf)} for plugin [${name}]` };
  }
  const def = getPlugin(name);
  if (!def) return { error: `unknown plugin [${name}]` };
  const meta = (conf as Record<string, unknown>)._meta;
  if (meta && typeof meta === 'object' && !Array.isArray(meta) && 'pre_function' in meta) {
    return { error: 'invalid configuration: property "pre_function" is not supported by switchyard', whole: true };
  }
  const r = validateSchema(schemaFor(def, schemaType), conf);
  if (!r.ok) return { error: `failed to check the configuration of plugin ${name} err: ${r.error}` };
  if (def.check) {
    let err: string | undefined;
    try {
      err = def.check(r.value, schemaType);
    } catch (e) {
      err = (e as Error)?.message ?? String(e);
    }
    if (err) return { error: `failed to check the configuration of plugin ${name} err: ${err}` };
  }
  if (meta && typeof meta === 'object' && (meta as Record<string, unknown>).filter !== undefined) {
    try {
      compileExpression((meta as Record<string, unknown>).filter);
    } catch (e) {
      return { error: `failed to validate the 'vars' expression: ${(e as Error)?.message ?? String(e)}` };
    }
  }
  return undefined;
}

/** check a `plugins` object, in its key order; the first failure wins */
export function checkPlugins(plugins: Record<string, unknown>, schemaType: SchemaType): PluginCheckError | undefined {
  for (const name of Object.keys(plugins)) {
    const err = checkPluginConf(name, plugins[name], schemaType);
    if (err) return err;
  }
  return undefined;
}
