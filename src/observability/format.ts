// nginx-style log formats (R-ALOG-3..6): compiled once into an array of
// literal and variable parts; rendering is a loop over that array.
import { canonicalVariable, isKnownVariable, LLM_VAR_DEFAULTS } from '../core/vars.js';
import { BASE_REDACTION, redactQueryString, redactRequestLine, redactUri, type Redaction } from './redact.js';
import type { RequestContext } from '../core/types.js';

/** a variable's getter resolved at compile time (ProxyContext.getterFor) */
export type VarResolver = (name: string) => ((ctx: RequestContext) => string | number | undefined) | undefined;

export type Escape = 'default' | 'json';
type GetVar = (name: string) => string | number | undefined;

export type FormatPart =
  | { kind: 'literal'; text: string }
  | { kind: 'var'; name: string; source: string; known: boolean };

const NAME_CHAR = /[A-Za-z0-9_]/;

/** R-ALOG-4: `$name` takes the longest run of [A-Za-z0-9_]; `${name}` delimits; the rest is literal */
export function parseFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let lit = '';
  const pushVar = (source: string) => {
    if (lit) parts.push({ kind: 'literal', text: lit });
    lit = '';
    parts.push({ kind: 'var', name: canonicalVariable(source), source, known: isKnownVariable(source) });
  };
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '$') { lit += c; i++; continue; }
    if (format[i + 1] === '{') {
      const end = format.indexOf('}', i + 2);
      const name = end < 0 ? '' : format.slice(i + 2, end);
      if (end > 0 && /^[A-Za-z0-9_]+$/.test(name)) {
        pushVar(name);
        i = end + 1;
        continue;
      }
      lit += c;
      i++;
      continue;
    }
    let j = i + 1;
    while (j < format.length && NAME_CHAR.test(format[j]!)) j++;
    if (j === i + 1) { lit += c; i++; continue; }
    pushVar(format.slice(i + 1, j));
    i = j;
  }
  if (lit) parts.push({ kind: 'literal', text: lit });
  return parts;
}

/** R-ALOG-6: the variable names of `format` that are not known (as written, deduplicated) */
export function unknownVariables(format: string): string[] {
  const out: string[] = [];
  for (const p of parseFormat(format)) if (p.kind === 'var' && !p.known && !out.includes(p.source)) out.push(p.source);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).toUpperCase().padStart(2, '0'));
const SAFE_DEFAULT = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;
const SAFE_JSON = /^[^"\\\x00-\x1F]*$/;

/** values up to this length are checked with a loop: cheaper than a regex call for the short values of a log line */
const SHORT_VALUE = 64;

/** `s` (short) has only printable ASCII other than `"` and `\` */
function plainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** R-ALOG-5, nginx `escape=default`: `"`, `\`, bytes < 0x20 or > 0x7E become `\xHH` */
export function escapeDefault(s: string): string {
  if (s.length <= SHORT_VALUE ? plainAscii(s) : SAFE_DEFAULT.test(s)) return s;
  const buf = Buffer.from(s, 'utf8');
  let out = '';
  for (const b of buf) {
    out += b === 0x22 || b === 0x5c || b < 0x20 || b > 0x7e ? '\\x' + HEX[b] : String.fromCharCode(b);
  }
  return out;
}

/** nginx `escape=json`: as inside a JSON string (non-ASCII kept as UTF-8) */
export function escapeJson(s: string): string {
  if (SAFE_JSON.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) {
      switch (c) {
        case 0x0a: out += '\\n'; break;
        case 0x0d: out += '\\r'; break;
        case 0x09: out += '\\t'; break;
        case 0x08: out += '\\b'; break;
        case 0x0c: out += '\\f'; break;
        default: out += '\\u00' + HEX[c];
      }
    } else out += s[i];
  }
  return out;
}

export interface CompiledFormat {
  readonly parts: readonly FormatPart[];
  /** names (as written) that are not known variables */
  readonly unknown: readonly string[];
  render(getVar: GetVar, redaction?: Redaction): string;
  /** the same line for a request context, through the getters resolved at compile time */
  renderContext(ctx: RequestContext, redaction?: Redaction): string;
}

/**
 * Compile an access-log format. Rendering: a known variable's value is
 * escaped; an absent one is `-` (`escape=json`: empty, as nginx); LLM string
 * variables that exist but are empty render empty (R-ALOG-4); an unknown
 * name is `-` (R-ALOG-6).
 */
export function compileFormat(format: string, escape: Escape = 'default', resolve?: VarResolver): CompiledFormat {
  const parts = parseFormat(format);
  const esc = escape === 'json' ? escapeJson : escapeDefault;
  const absent = escape === 'json' ? '' : '-';
  type Value = string | number | undefined;
  type Fmt = (v: Value, r: Redaction) => string;
  // one formatter per part: the value (or its absence) to text
  const fmts: Fmt[] = parts.map((p): Fmt => {
    if (p.kind === 'literal') {
      const t = p.text;
      return () => t;
    }
    if (!p.known) return () => '-';
    const name = p.name;
    const fallback = LLM_VAR_DEFAULTS[name];
    // redactedVar (redact.ts) resolved at compile time: the credential header
    // or query name this variable exposes, and which query redaction applies
    const credHeader = name.startsWith('http_') ? name.slice(5).replace(/_/g, '-') : undefined;
    const credArg = name.startsWith('arg_') ? name.slice(4) : undefined;
    const redactQuery =
      name === 'request' ? redactRequestLine
      : name === 'request_uri' || name === 'upstream_uri' ? redactUri
      : name === 'args' || name === 'query_string' ? redactQueryString
      : undefined;
    return (v, r) => {
      if (v !== undefined) {
        if (credHeader !== undefined ? r.headers.has(credHeader) : credArg !== undefined && r.query.has(credArg)) v = undefined;
        else if (redactQuery !== undefined && typeof v === 'string' && v !== '') v = redactQuery(v, r);
      }
      if (v === undefined) {
        if (fallback === undefined) return absent;
        v = fallback;
      }
      return typeof v === 'number' ? String(v) : esc(v);
    };
  });
  // names of the known variables (undefined: a literal or an unknown name, read as absent)
  const names = parts.map((p) => (p.kind === 'var' && p.known ? p.name : undefined));
  // renderContext reads each variable through its getter, resolved once here
  const getters = parts.map((p) => (p.kind === 'var' && p.known ? resolve?.(p.name) : undefined));
  const unknown = unknownVariables(format);
  // Rendering fills one array and joins it: the line is then one flat string.
  // Appending with += made a rope of one node per part (about 40 for a
  // combined-log format with the LLM variables), garbage that the write's
  // join then had to flatten. Rendering is synchronous and never re-entered,
  // so one array per compiled format serves every call.
  const pieces: string[] = parts.map(() => '');
  return {
    parts,
    unknown,
    render(getVar, redaction = BASE_REDACTION) {
      for (let i = 0; i < fmts.length; i++) {
        const n = names[i];
        pieces[i] = fmts[i]!(n !== undefined ? getVar(n) : undefined, redaction);
      }
      return pieces.join('');
    },
    renderContext(ctx, redaction = BASE_REDACTION) {
      for (let i = 0; i < fmts.length; i++) {
        const g = getters[i];
        const n = names[i];
        const v = g !== undefined ? g(ctx) : n !== undefined ? ctx.getVar(n) : undefined;
        pieces[i] = fmts[i]!(v, redaction);
      }
      return pieces.join('');
    },
  };
}
