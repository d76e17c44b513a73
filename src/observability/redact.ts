// Credentials never reach a log (switchyard): the `Authorization`-like
// request headers and the header / query-string names an auth plugin reads
// (key-auth `header` and `query`, default `apikey`) are left out of logger
// entries and rendered as absent by the access log; they are also removed
// from the query part of `$request`, `$request_uri`, `$upstream_uri`, `$args`.
import type { RequestContext } from '../core/types.js';

const BASE_HEADERS = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'apikey'];
const BASE_QUERY = ['apikey'];

export interface Redaction {
  /** lower-case header names */
  headers: ReadonlySet<string>;
  /** query argument names (case-sensitive, as nginx) */
  query: ReadonlySet<string>;
}

export const BASE_REDACTION: Redaction = { headers: new Set(BASE_HEADERS), query: new Set(BASE_QUERY) };

// keyed by the plugin list, not the request: a route's compiled list is shared
// by all its requests, so this is one lookup per request instead of a scan and
// a WeakMap insertion
const cache = new WeakMap<object, Redaction>();

/** the names to hide for this request: the base set plus what its auth plugins read */
export function redactionFor(ctx: Pick<RequestContext, 'plugins'> | undefined): Redaction {
  if (!ctx || !Array.isArray(ctx.plugins)) return BASE_REDACTION;
  const plugins = ctx.plugins;
  if (plugins.length === 0) return BASE_REDACTION;
  const hit = cache.get(plugins);
  if (hit) return hit;
  let headers: Set<string> | undefined;
  let query: Set<string> | undefined;
  for (const p of plugins) {
    if (p?.def?.type !== 'auth') continue;
    const conf = p.conf as Record<string, unknown> | undefined;
    if (!conf || typeof conf !== 'object') continue;
    const h = conf.header;
    const q = conf.query;
    if (typeof h === 'string' && !BASE_REDACTION.headers.has(h.toLowerCase())) {
      (headers ??= new Set(BASE_HEADERS)).add(h.toLowerCase());
    }
    if (typeof q === 'string' && !BASE_REDACTION.query.has(q)) (query ??= new Set(BASE_QUERY)).add(q);
  }
  const r = headers || query ? { headers: headers ?? BASE_REDACTION.headers, query: query ?? BASE_REDACTION.query } : BASE_REDACTION;
  cache.set(plugins, r);
  return r;
}

/** true when the variable exposes a credential (`http_authorization`, `arg_apikey`, ...) */
export function isCredentialVariable(name: string, r: Redaction): boolean {
  if (name.startsWith('http_')) return r.headers.has(name.slice(5).replace(/_/g, '-'));
  if (name.startsWith('arg_')) return r.query.has(name.slice(4));
  return false;
}

/** remove credential arguments from a raw query string (`a=1&apikey=x` → `a=1`) */
export function redactQueryString(qs: string, r: Redaction): string {
  if (!qs) return qs;
  if (!qs.includes('%')) {
    let any = false;
    for (const k of r.query) if (qs.includes(k)) { any = true; break; }
    if (!any) return qs;
  }
  let changed = false;
  const kept: string[] = [];
  for (const part of qs.split('&')) {
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    let name = rawName;
    try { name = decodeURIComponent(rawName.replace(/\+/g, ' ')); } catch { /* keep raw */ }
    if (r.query.has(name)) { changed = true; continue; }
    kept.push(part);
  }
  return changed ? kept.join('&') : qs;
}

/** redact the query of a `path?query` string */
export function redactUri(uri: string, r: Redaction): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const qs = redactQueryString(uri.slice(q + 1), r);
  if (qs === uri.slice(q + 1)) return uri;
  return qs ? `${uri.slice(0, q)}?${qs}` : uri.slice(0, q);
}

/** redact the query inside a request line (`GET /p?apikey=x HTTP/1.1`) */
export function redactRequestLine(line: string, r: Redaction): string {
  if (!line.includes('?')) return line;
  const sp1 = line.indexOf(' ');
  if (sp1 < 0) return line;
  const sp2 = line.lastIndexOf(' ');
  const target = sp2 > sp1 ? line.slice(sp1 + 1, sp2) : line.slice(sp1 + 1);
  const red = redactUri(target, r);
  if (red === target) return line;
  return sp2 > sp1 ? `${line.slice(0, sp1 + 1)}${red}${line.slice(sp2)}` : `${line.slice(0, sp1 + 1)}${red}`;
}

/**
 * A variable's value as logs may see it: credential variables are absent,
 * query-bearing variables lose their credential arguments.
 */
export function redactedVar(name: string, value: string | number | undefined, r: Redaction): string | number | undefined {
  if (value === undefined) return undefined;
  if (isCredentialVariable(name, r)) return undefined;
  if (typeof value !== 'string' || value === '') return value;
  switch (name) {
    case 'request':
      return redactRequestLine(value, r);
    case 'request_uri':
    case 'upstream_uri':
      return redactUri(value, r);
    case 'args':
    case 'query_string':
      return redactQueryString(value, r);
    default:
      return value;
  }
}
