// IP / CIDR matching for `remote_addrs` (R-RTE-5) and the `ipmatch` operator
// (R-RTE-8). Patterns are compiled once; matching parses the client address
// into numbers without allocating regexes.
import { isIP } from 'node:net';

interface Net {
  v6: boolean;
  /** address as 4 (v4) or 8 (v6) 16-bit groups / bytes, masked */
  parts: number[];
  bits: number;
}

function parseV4(s: string): number[] | undefined {
  const p = s.split('.');
  if (p.length !== 4) return undefined;
  const out: number[] = [];
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x)) return undefined;
    const n = Number(x);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseV6(s: string): number[] | undefined {
  if (isIP(s) !== 6) return undefined;
  let str = s;
  const pct = str.indexOf('%');
  if (pct >= 0) str = str.slice(0, pct);
  // embedded IPv4 tail
  let tail: number[] = [];
  const lastColon = str.lastIndexOf(':');
  if (str.indexOf('.', lastColon) >= 0) {
    const v4 = parseV4(str.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    str = str.slice(0, lastColon + 1) + '0';
    // replace the placeholder group below
  }
  const [head, rest] = str.includes('::') ? str.split('::') as [string, string] : [str, undefined];
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  let groups: number[];
  if (rest === undefined) groups = h.map((g) => parseInt(g, 16));
  else {
    const fill = 8 - h.length - r.length;
    groups = [...h.map((g) => parseInt(g, 16)), ...new Array(Math.max(0, fill)).fill(0), ...r.map((g) => parseInt(g, 16))];
  }
  if (tail.length) {
    groups = groups.slice(0, 8);
    groups[6] = tail[0]!;
    groups[7] = tail[1]!;
  }
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g))) return undefined;
  return groups;
}

function toNet(pattern: string): Net | undefined {
  const slash = pattern.indexOf('/');
  const addr = slash < 0 ? pattern : pattern.slice(0, slash);
  const bitsStr = slash < 0 ? undefined : pattern.slice(slash + 1);
  const v4 = parseV4(addr);
  if (v4) {
    const bits = bitsStr === undefined ? 32 : Number(bitsStr);
    if (!Number.isInteger(bits) || bits < 0 || bits > 32 || (bitsStr !== undefined && !/^\d+$/.test(bitsStr))) return undefined;
    return { v6: false, parts: mask(v4, bits, 8), bits };
  }
  const v6 = parseV6(addr);
  if (v6) {
    const bits = bitsStr === undefined ? 128 : Number(bitsStr);
    if (!Number.isInteger(bits) || bits < 0 || bits > 128 || (bitsStr !== undefined && !/^\d+$/.test(bitsStr))) return undefined;
    return { v6: true, parts: mask(v6, bits, 16), bits };
  }
  return undefined;
}

function mask(parts: number[], bits: number, width: number): number[] {
  const out = parts.slice();
  for (let i = 0; i < out.length; i++) {
    const start = i * width;
    if (bits >= start + width) continue;
    if (bits <= start) out[i] = 0;
    else {
      const keep = bits - start;
      const m = ((1 << keep) - 1) << (width - keep);
      out[i] = out[i]! & m;
    }
  }
  return out;
}

/** true when `s` is a valid IP address or CIDR (v4 or v6) */
export function isIpOrCidr(s: string): boolean {
  return toNet(s) !== undefined;
}

export type IpMatcher = (ip: string) => boolean;

/** compile a list of IPs/CIDRs; throws on an invalid entry */
export function compileIpMatcher(patterns: string[]): IpMatcher {
  const nets: Net[] = [];
  for (const p of patterns) {
    const n = toNet(String(p));
    if (!n) throw new Error(`invalid ip address: ${p}`);
    nets.push(n);
  }
  const v4 = nets.filter((n) => !n.v6);
  const v6 = nets.filter((n) => n.v6);
  return (ip: string) => {
    let addr = ip;
    if (addr.startsWith('::ffff:') && addr.indexOf('.') > 0) addr = addr.slice(7);
    const a4 = v4.length ? parseV4(addr) : undefined;
    if (a4) {
      for (const n of v4) {
        const m = mask(a4, n.bits, 8);
        if (m[0] === n.parts[0] && m[1] === n.parts[1] && m[2] === n.parts[2] && m[3] === n.parts[3]) return true;
      }
      return false;
    }
    if (!v6.length) return false;
    const a6 = parseV6(ip);
    if (!a6) return false;
    for (const n of v6) {
      const m = mask(a6, n.bits, 16);
      let eq = true;
      for (let i = 0; i < 8; i++) if (m[i] !== n.parts[i]) { eq = false; break; }
      if (eq) return true;
    }
    return false;
  };
}
