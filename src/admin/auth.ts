// Admin API access control: allow_admin (R-ADM-2) and the admin key with
// roles (R-ADM-3..5).
import { BlockList, isIP } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AdminKey } from '../config/types.js';

export const DEFAULT_ALLOW_ADMIN = ['127.0.0.0/24'];

/** normalize a peer address: IPv4-mapped IPv6 becomes plain IPv4 */
export function normalizePeer(addr: string | undefined): string {
  if (!addr) return '';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

/** compile allow_admin once; `undefined` means the default list, `[]` denies everyone */
export function compileAllowList(list: string[] | undefined): (addr: string | undefined) => boolean {
  const entries = list ?? DEFAULT_ALLOW_ADMIN;
  const bl = new BlockList();
  for (const raw of entries) {
    const s = String(raw).trim();
    const slash = s.indexOf('/');
    const ip = slash >= 0 ? s.slice(0, slash) : s;
    const fam = isIP(ip);
    if (!fam) continue;
    const type = fam === 6 ? 'ipv6' : 'ipv4';
    try {
      if (slash >= 0) bl.addSubnet(ip, Number(s.slice(slash + 1)), type);
      else bl.addAddress(ip, type);
    } catch {
      // an invalid prefix length: the config loader reports it; ignore here
    }
  }
  return (addr) => {
    const a = normalizePeer(addr);
    const fam = isIP(a);
    if (!fam) return false;
    return bl.check(a, fam === 6 ? 'ipv6' : 'ipv4');
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function cookieValue(header: string | undefined, names: string[]): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (names.includes(name)) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** R-ADM-3: query `api_key`, then header `X-API-KEY`, then cookie `X-API-KEY` */
export function requestKey(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const q = query.get('api_key');
  if (q !== null) return q;
  const h = headerValue(req.headers['x-api-key']);
  if (h !== undefined) return h;
  return cookieValue(headerValue(req.headers.cookie), ['x-api-key', 'x_api_key']);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * The admin key entry equal to `given`, compared in constant time: digests
 * of equal length, every key compared (no early exit), so the answer time
 * says nothing about how much of a key was right or which key matched.
 */
export function findKey(keys: readonly AdminKey[], given: string): AdminKey | undefined {
  const g = digest(given);
  let found: AdminKey | undefined;
  for (const k of keys) {
    if (timingSafeEqual(digest(k.key), g) && found === undefined) found = k;
  }
  return found;
}

/** R-ADM-4/5: undefined when allowed, else the `description` of the 401 */
export function checkToken(
  req: IncomingMessage,
  query: URLSearchParams,
  keys: AdminKey[] | undefined,
  required: boolean,
): string | undefined {
  if (required === false) return undefined;
  if (!keys || keys.length === 0) return undefined;
  const given = requestKey(req, query);
  if (given === undefined) return 'missing apikey';
  const entry = findKey(keys, given);
  if (!entry) return 'wrong apikey';
  if (entry.role === 'viewer' && (req.method ?? '').toUpperCase() !== 'GET') return 'invalid method for role viewer';
  return undefined;
}
