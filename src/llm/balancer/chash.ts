// Consistent hashing ring (R-BAL-7, R-BAL-8): 160 x w/g points per member,
// point hashes CRC32("<name>#<j>"), lookup = first point at or after
// CRC32(key), clockwise, wrapping. The ring never changes with health
// (R-BAL-30): members that may not be used are skipped while walking it.
import type { Picker } from './index.js';
import { crc32 } from './crc32.js';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export const POINTS_PER_WEIGHT = 160;

export class ChashPicker implements Picker {
  private readonly hashes: Uint32Array;
  private readonly owners: Int32Array;
  /** the ids of the members that have points */
  private readonly ids: Int32Array;

  /** `ids[i]` is what pick() returns for member i (default: i) */
  constructor(names: string[], weights: number[], ids?: readonly number[]) {
    const positive = weights.some((x) => x > 0);
    const w = weights.map((x) => (positive ? (x > 0 ? x : 0) : 1));
    const g = w.reduce((a, b) => gcd(a, b), 0) || 1;
    const pts: { h: number; o: number }[] = [];
    const present: number[] = [];
    names.forEach((name, i) => {
      const count = (POINTS_PER_WEIGHT * w[i]!) / g;
      const id = ids ? ids[i]! : i;
      if (count > 0) present.push(id);
      for (let j = 0; j < count; j++) pts.push({ h: crc32(`${name}#${j}`), o: id });
    });
    pts.sort((a, b) => a.h - b.h || a.o - b.o);
    this.hashes = Uint32Array.from(pts, (p) => p.h);
    this.owners = Int32Array.from(pts, (p) => p.o);
    this.ids = Int32Array.from(present);
  }

  /** index of the first point with hash >= h (wrapping to 0) */
  private first(h: number): number {
    let lo = 0;
    let hi = this.hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.hashes.length ? 0 : lo;
  }

  pick(tried: ReadonlySet<number>, key = ''): number | undefined {
    const len = this.hashes.length;
    if (len === 0) return undefined;
    if (tried.size > 0) {
      let any = false;
      for (let k = 0; k < this.ids.length && !any; k++) if (!tried.has(this.ids[k]!)) any = true;
      if (!any) return undefined;
    }
    let at = this.first(crc32(key));
    for (let k = 0; k < len; k++) {
      const o = this.owners[at]!;
      if (!tried.has(o)) return o;
      at = at + 1 === len ? 0 : at + 1;
    }
    return undefined;
  }
}
