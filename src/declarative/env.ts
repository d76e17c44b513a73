// Environment substitution in declarative files.
//   ADC (R-DECL-11): after parsing, in string values only: `${NAME}` -> env
//   value or ""; `\${NAME}` -> the literal `${NAME}`.
//   Standalone (R-DECL-22): `${{NAME}}` / `${{NAME:=default}}` in the raw text
//   before parsing; an unset variable without default is an error.
import { substituteRefs } from '../config/env.js';
import { DeclarativeError, isObject } from './model.js';

const ADC_REF = /(\\?)\$\{(\w+)\}/g;

export function substituteAdcString(s: string, env: NodeJS.ProcessEnv): string {
  if (!s.includes('${')) return s;
  return s.replace(ADC_REF, (_m, escape: string, name: string) => (escape ? `\${${name}}` : env[name] ?? ''));
}

/** substitute in every string value (not in keys), returning a new value */
export function substituteAdc(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return substituteAdcString(value, env);
  if (Array.isArray(value)) return value.map((v) => substituteAdc(v, env));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteAdc(v, env);
    return out;
  }
  return value;
}

/** the inverse for dump: make a literal string survive substitution */
export function escapeAdcString(s: string): string {
  return s.includes('${') ? s.replace(/\$\{(\w+)\}/g, (_m, name: string) => '\\${' + name + '}') : s;
}

export function substituteStandalone(text: string, file: string, env: NodeJS.ProcessEnv): string {
  return substituteRefs(
    text,
    env,
    (name, line) => new DeclarativeError(file, `line ${line}`, `environment variable ${name} is not set and \${{${name}}} has no default`),
  );
}
