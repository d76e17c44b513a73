// JSON Schema validation with APISIX's error wording (R-GEN-5).
// Validators are compiled once per schema object and cached.
// OWNER: admin/schema helper — translate ajv errors into the R-GEN-5 table.
import Ajv from 'ajv-draft-04';
import type { ValidateFunction, ErrorObject } from 'ajv';

export type ValidationResult =
  | { ok: true; value: any }
  | { ok: false; error: string };

const ajv = new (Ajv as any)({ allErrors: false, useDefaults: true, strict: false }) as import('ajv').default;
const cache = new WeakMap<object, ValidateFunction>();

function compiled(schema: object): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

/**
 * Validate `data` against `schema`. On success `value` is a deep copy with
 * schema defaults applied; `data` itself is never modified.
 */
export function validateSchema(schema: object, data: unknown): ValidationResult {
  const copy = data === undefined ? undefined : structuredClone(data);
  const fn = compiled(schema);
  if (fn(copy)) return { ok: true, value: copy };
  return { ok: false, error: translate(fn.errors ?? []) };
}

function translate(errors: ErrorObject[]): string {
  const e = errors[0];
  if (!e) return 'validation failed';
  return `${e.instancePath || '/'} ${e.message ?? 'invalid'}`;
}
