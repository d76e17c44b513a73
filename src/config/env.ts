// R-GEN-13: `${{NAME}}` and `${{NAME:=default}}` in the raw config text,
// replaced before YAML parsing. Comment lines are left alone so that a
// commented-out reference to an unset variable is not an error.
import { ConfigError } from './errors.js';

const REF = /\$\{\{\s*([A-Za-z0-9_]+)\s*(?::=([^}]*?))?\s*\}\}/g;

export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text
    .split('\n')
    .map((line, i) => {
      if (/^\s*#/.test(line) || !line.includes('${{')) return line;
      return line.replace(REF, (_m, name: string, def: string | undefined) => {
        const value = env[name];
        if (value !== undefined) return value;
        if (def !== undefined) return def;
        throw new ConfigError('', `line ${i + 1}: environment variable ${name} is not set and \${{${name}}} has no default (use \${{${name}:=default}})`);
      });
    })
    .join('\n');
}
