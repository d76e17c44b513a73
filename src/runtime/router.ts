// Route matching (R-RTE-1..8). APISIX's radix tree returns *every* route
// whose path pattern matches, ordered (exact first, then prefixes by
// decreasing literal length, then priority), and the first one whose other
// conditions (host, method, remote address, vars) hold wins. find-my-way
// returns one best handler per path and has no fall-through on extra
// conditions, so the table is an exact-match Map plus a Map of literal
// prefixes probed by decreasing length: O(number of distinct prefix lengths)
// lookups per request, no regex, no allocation besides the probed slices.
import type { Expression } from '../core/expr.js';
import type { IpMatcher } from '../core/ip.js';

export interface HostMatcher {
  any: boolean;
  exact: ReadonlySet<string>;
  /** `*.example.com` stored as `.example.com` */
  suffixes: readonly string[];
  /** the configured pattern of each suffix (`*.example.com`), for `matched_host` */
  suffixPatterns?: readonly string[];
}

export interface RouteMatchSpec {
  /** store key (`/apisix/routes/1`): ties are broken by ascending key */
  key: string;
  priority: number;
  uris: readonly string[];
  hosts?: HostMatcher;
  methods?: ReadonlySet<string>;
  remoteAddrs?: IpMatcher;
  vars?: Expression;
  /** `vars` test `post_arg.*`: the JSON body must be read before they can be evaluated (R-RTE-20) */
  varsNeedBody?: boolean;
}

export interface MatchRequest {
  uri: string;
  host: string;
  method: string;
  clientIp: string;
  getVar(name: string): string | number | undefined;
  /** set by match(): the uri pattern of the matched route that matched (`matched_uri`) */
  matchedUri?: string;
  /** the JSON body for `post_arg.*` vars, once read (undefined: absent) */
  readonly postArgs?: unknown;
  /** true once the body was read for `post_arg.*` (or found not to be readable JSON) */
  postArgsRead?: boolean;
  /**
   * set by match() when it stopped at a route whose `post_arg.*` vars need the
   * body: read it (setting postArgsRead), then match again (R-RTE-20)
   */
  postArgsWanted?: boolean;
}

interface Candidate<R> {
  route: R;
  /** 0 exact, 1 parametric, 2 prefix */
  kind: number;
  literalLen: number;
  /** the route's uri pattern this candidate stands for */
  pattern: string;
  /** full check for parametric patterns */
  check?: (path: string) => boolean;
}

export function compileHosts(list: readonly string[] | undefined): HostMatcher | undefined {
  if (!list || list.length === 0) return undefined;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const suffixPatterns: string[] = [];
  let any = false;
  for (const raw of list) {
    const h = String(raw).toLowerCase();
    if (h === '*') any = true;
    else if (h.startsWith('*')) {
      suffixes.push(h.slice(1));
      suffixPatterns.push(h);
    } else exact.add(h);
  }
  return { any, exact, suffixes, suffixPatterns };
}

/** the host pattern of `m` that `host` matched (`matched_host`), undefined when none */
export function matchedHostPattern(m: HostMatcher, host: string): string | undefined {
  if (m.exact.has(host)) return host;
  for (let i = 0; i < m.suffixes.length; i++) {
    const s = m.suffixes[i]!;
    if (host.length > s.length && host.endsWith(s)) return m.suffixPatterns?.[i] ?? '*' + s;
  }
  return m.any ? '*' : undefined;
}

export function hostMatches(m: HostMatcher, host: string): boolean {
  if (m.any) return true;
  if (m.exact.has(host)) return true;
  for (let i = 0; i < m.suffixes.length; i++) {
    const s = m.suffixes[i]!;
    if (host.length > s.length && host.endsWith(s)) return true;
  }
  return false;
}

/** a `/:name/` segment matcher; `*` or `*name` at the end matches the rest */
function compileParamPattern(pattern: string): (path: string) => boolean {
  let p = pattern;
  let tailAny = false;
  const star = p.lastIndexOf('*');
  if (star >= 0 && star === p.lastIndexOf('/') + 1) {
    tailAny = true;
    p = p.slice(0, star);
  }
  const segs = p.split('/');
  const trailingSlash = p.endsWith('/');
  return (path: string) => {
    const parts = path.split('/');
    if (tailAny) {
      // pattern segments (all but the empty last one) must match
      const need = trailingSlash ? segs.length - 1 : segs.length;
      if (parts.length < need) return false;
      for (let i = 0; i < need; i++) {
        const s = segs[i]!;
        const v = parts[i]!;
        if (s.charCodeAt(0) === 58 /* : */) {
          if (v === '') return false;
        } else if (s !== v) return false;
      }
      if (trailingSlash && parts.length === need) return false;
      return true;
    }
    if (parts.length !== segs.length) return false;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      const v = parts[i]!;
      if (s.charCodeAt(0) === 58) {
        if (v === '') return false;
      } else if (s !== v) return false;
    }
    return true;
  };
}

function hasParam(pattern: string): boolean {
  return pattern.includes('/:');
}

/** state of one match() call across buckets */
interface Scan<R> {
  fallback: R | undefined;
  fallbackPattern: string | undefined;
}

export class Router<R extends RouteMatchSpec> {
  private readonly exact = new Map<string, Candidate<R>[]>();
  private readonly prefix = new Map<string, Candidate<R>[]>();
  /** distinct literal prefix lengths, descending */
  private readonly lengths: number[];
  readonly size: number;

  constructor(routes: readonly R[]) {
    this.size = routes.length;
    for (const route of routes) {
      for (const pattern of route.uris) {
        if (typeof pattern !== 'string' || pattern === '') continue;
        if (hasParam(pattern)) {
          const lit = pattern.slice(0, pattern.indexOf('/:') + 1);
          push(this.prefix, lit, { route, kind: 1, literalLen: lit.length, pattern, check: compileParamPattern(pattern) });
        } else if (pattern.endsWith('*')) {
          // `/blog/*`, `/blog*`, also `/blog/*name`
          const lit = pattern.slice(0, pattern.length - 1);
          push(this.prefix, lit, { route, kind: 2, literalLen: lit.length, pattern });
        } else if (/\/\*[A-Za-z0-9_]+$/.test(pattern)) {
          const lit = pattern.slice(0, pattern.lastIndexOf('*'));
          push(this.prefix, lit, { route, kind: 2, literalLen: lit.length, pattern });
        } else {
          push(this.exact, pattern, { route, kind: 0, literalLen: pattern.length, pattern });
        }
      }
    }
    const order = (a: Candidate<R>, b: Candidate<R>) =>
      a.kind - b.kind ||
      b.route.priority - a.route.priority ||
      (a.route.key < b.route.key ? -1 : a.route.key > b.route.key ? 1 : 0);
    for (const l of this.exact.values()) l.sort(order);
    for (const l of this.prefix.values()) l.sort(order);
    this.lengths = [...new Set([...this.prefix.keys()].map((k) => k.length))].sort((a, b) => b - a);
  }

  /** every path-matching candidate in R-RTE-2 order */
  *candidates(path: string): Generator<R> {
    const ex = this.exact.get(path);
    if (ex) for (const c of ex) yield c.route;
    for (const len of this.lengths) {
      if (len > path.length) continue;
      const list = this.prefix.get(len === path.length ? path : path.slice(0, len));
      if (!list) continue;
      for (const c of list) if (!c.check || c.check(path)) yield c.route;
    }
  }

  /**
   * The matched route: the first candidate whose conditions hold among the
   * routes that have hosts, else the first among the host-less ones (R-RTE-3).
   * Sets `req.matchedUri` to the route's uri pattern that matched.
   */
  match(req: MatchRequest): R | undefined {
    const path = req.uri;
    const scan: Scan<R> = { fallback: undefined, fallbackPattern: undefined };
    const ex = this.exact.get(path);
    if (ex && this.scanBucket(ex, req, path, scan)) return scan.fallback;
    const lengths = this.lengths;
    for (let li = 0; li < lengths.length; li++) {
      const len = lengths[li]!;
      if (len > path.length) continue;
      const list = this.prefix.get(len === path.length ? path : path.slice(0, len));
      if (list && this.scanBucket(list, req, path, scan)) return scan.fallback;
    }
    if (scan.fallback !== undefined) req.matchedUri = scan.fallbackPattern;
    return scan.fallback;
  }

  /**
   * Walks one bucket of candidates in order. Returns true (with the route in
   * `scan.fallback`) on a host-bearing match; remembers the first host-less
   * match in `scan` otherwise.
   */
  private scanBucket(list: readonly Candidate<R>[], req: MatchRequest, path: string, scan: Scan<R>): boolean {
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.check && !c.check(path)) continue;
      const m = this.check(c.route, req, scan.fallback === undefined);
      if (m === 3) {
        // the order decides, so nothing after this candidate may win before its vars are known
        req.postArgsWanted = true;
        scan.fallback = undefined;
        return true;
      }
      if (m === 1) {
        req.matchedUri = c.pattern;
        scan.fallback = c.route;
        return true;
      }
      if (m === 2) {
        scan.fallback = c.route;
        scan.fallbackPattern = c.pattern;
      }
    }
    return false;
  }

  /** 0 no match, 1 match with hosts, 2 host-less match (only computed when wanted), 3 needs the body */
  private check(r: R, req: MatchRequest, wantHostless: boolean): 0 | 1 | 2 | 3 {
    if (r.hosts) {
      if (!hostMatches(r.hosts, req.host)) return 0;
    } else if (!wantHostless) return 0;
    if (r.methods && !r.methods.has(req.method)) return 0;
    if (r.remoteAddrs && !r.remoteAddrs(req.clientIp)) return 0;
    if (r.vars) {
      if (r.varsNeedBody && req.postArgsRead !== true) return 3;
      if (!r.vars(req)) return 0;
    }
    return r.hosts ? 1 : 2;
  }
}

function push<R>(m: Map<string, Candidate<R>[]>, k: string, c: Candidate<R>): void {
  const l = m.get(k);
  if (l) l.push(c);
  else m.set(k, [c]);
}

/**
 * R-RTE-1 path normalization: percent-decoding, `.`/`..` segments, repeated
 * slashes. Returns undefined for an undecodable path (bad `%` escape).
 */
export function normalizePath(raw: string): string | undefined {
  let p = raw;
  if (p.charCodeAt(0) !== 47 /* / */) {
    // absolute-form request target: http://host/path
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(p);
    if (m) p = p.slice(m[0].length) || '/';
    else if (p === '*') return '*';
    else p = '/' + p;
  }
  if (p.indexOf('%') >= 0) {
    const d = percentDecode(p);
    if (d === undefined) return undefined;
    p = d;
  }
  if (p.indexOf('//') < 0 && p.indexOf('/.') < 0) return p;
  const segs = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '' || s === '.') {
      if (last) out.push('');
      continue;
    }
    if (s === '..') {
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function percentDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    // invalid UTF-8 or a bad escape: decode bytewise
  }
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      bytes.push(h * 16 + l);
      i += 2;
    } else if (c < 128) bytes.push(c);
    else for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}
