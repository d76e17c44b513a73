// R-GEN-13: `${{NAME}}` and `${{NAME:=default}}` in the raw config text,
// replaced before YAML parsing. Comment lines are left alone so that a
// commented-out reference to an unset variable is not an error. The same
// syntax serves standalone declarative files (R-DECL-22).
import { ConfigError } from './errors.js';

const REF = /\$\{\{\s*([A-Za-z0-9_]+)\s*(?::=([^}]*?))?\s*\}\}/g;

/**
 * Replace every `${{NAME}}` / `${{NAME:=default}}` outside comment lines;
 * `missing` builds the error for an unset variable without a default
 * (`line` counts from 1).
 */
export function substituteRefs(text: string, env: NodeJS.ProcessEnv, missing: (name: string, line: number) => Error): string {
  if (!text.includes('${{')) return text;
  return text
    .split('\n')
    .map((line, i) => {
      if (/^\s*#/.test(line) || !line.includes('${{')) return line;
      return line.replace(REF, (_m, name: string, def: string | undefined) => {
        const value = env[name];
        if (value !== undefined) return value;
        if (def !== undefined) return def;
        throw missing(name, i + 1);
      });
    })
    .join('\n');
}

export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return substituteRefs(
    text,
    env,
    (name, line) => new ConfigError('', `line ${line}: environment variable ${name} is not set and \${{${name}}} has no default (use \${{${name}:=default}})`),
  );
}
