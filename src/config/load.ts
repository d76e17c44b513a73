// Reads conf/config.yaml: environment substitution on the raw text
// (R-GEN-13), YAML parsing, then strict validation with defaults (R-GEN-12).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError } from './errors.js';
import { substituteEnv } from './env.js';
import { normalizeConfig } from './normalize.js';
import type { GatewayConfig } from './types.js';

export { ConfigError } from './errors.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** base of relative paths; default process.cwd() */
  cwd?: string;
}

export interface LoadedConfig {
  config: GatewayConfig;
  warnings: string[];
}

/** Parse config text (already read); `file` is used for GatewayConfig.file and messages. */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): LoadedConfig {
  const substituted = substituteEnv(text, opts.env ?? process.env);
  let raw: unknown;
  try {
    raw = YAML.parse(substituted, { merge: true, prettyErrors: true });
  } catch (err) {
    throw new ConfigError('', yamlErrorMessage(err, text, file));
  }
  return normalizeConfig(raw, { file: path.resolve(file), cwd: opts.cwd });
}

export function loadConfig(file: string, opts: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('', `cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return parseConfig(text, file, opts);
}

/**
 * R-CFG-1 (issue 15): a YAML syntax error names the file, line and column and
 * shows the offending line of the original text with a caret under the column.
 */
function yamlErrorMessage(err: unknown, text: string, file: string): string {
  const e = err as Error & { linePos?: [{ line: number; col: number }, ...unknown[]] };
  const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const pos = e.linePos?.[0];
  if (!pos) return `invalid YAML in ${file}: ${first}`;
  const line = text.split('\n')[pos.line - 1] ?? '';
  const caret = `${' '.repeat(Math.max(0, pos.col - 1))}^`;
  return `invalid YAML in ${file} at line ${pos.line}, column ${pos.col}: ${first}\n  ${line}\n  ${caret}`;
}
