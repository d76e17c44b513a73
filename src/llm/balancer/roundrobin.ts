// Interleaved weighted round robin (lua-resty-balancer / LVS), R-BAL-4, with
// the weight-0 rules of R-BAL-5.
import type { Picker } from './index.js';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export class RoundRobinPicker implements Picker {
  /** member index of each selectable slot */
  private readonly idx: number[];
  private readonly w: number[];
  private readonly g: number;
  private readonly max: number;
  private p = -1;
  private cw: number;

  constructor(weights: number[]) {
    const positive = weights.some((x) => x > 0);
    this.idx = [];
    this.w = [];
    weights.forEach((x, i) => {
      if (positive && !(x > 0)) return; // R-BAL-5: weight 0 never picked when the group has positive weights
      this.idx.push(i);
      this.w.push(positive ? x : 1); // all zero: plain rotation
    });
    this.g = this.w.reduce((a, b) => gcd(a, b), 0) || 1;
    this.max = this.w.reduce((a, b) => Math.max(a, b), 0);
    this.cw = this.max;
  }

  /** one step of the R-BAL-4 pseudo-code: a slot index */
  private next(): number {
    const n = this.w.length;
    if (n === 1) return 0;
    for (;;) {
      this.p++;
      if (this.p === n) {
        this.p = 0;
        this.cw -= this.g;
        if (this.cw <= 0) this.cw = this.max;
      }
      if (this.w[this.p]! >= this.cw) return this.p;
    }
  }

  pick(tried: ReadonlySet<number>): number | undefined {
    const n = this.idx.length;
    if (n === 0) return undefined;
    if (tried.size > 0) {
      let left = 0;
      for (const i of this.idx) if (!tried.has(i)) left++;
      if (left === 0) return undefined;
    }
    // one full cycle visits every slot; bound the walk by two cycles
    const bound = 2 * n * (Math.floor(this.max / this.g) + 1);
    for (let k = 0; k < bound; k++) {
      const i = this.idx[this.next()]!;
      if (!tried.has(i)) return i;
    }
    for (const i of this.idx) if (!tried.has(i)) return i;
    return undefined;
  }
}
