// Byte-pair encoding ranks held in typed arrays, for counting tokens (R-USG-2,
// R-QTA-2) without the memory a tokenizer library's tables cost.
//
// Why by hand: gpt-tokenizer (whose data files and split patterns this uses)
// keeps o200k_base as a JS module of 200,000 string literals and a Map over
// them: loading it costs +58 MB RSS / +20 MB heap for as long as the process
// lives, blocks the event loop ~330 ms, and adds 200,000 objects to every
// major GC's marking. tiktoken's WASM build costs +75 MB. Here the same ranks
// are one byte array, one offset and one rank array and one open-addressing
// hash table (5 MB for o200k_base, off the JS heap), built from the library's
// `.tiktoken` file in slices that yield to the event loop. The merge loop is
// tiktoken's: merge the adjacent pair of lowest rank, leftmost first, until no
// pair is a token; the count is the parts left. test/llm/bpe.test.ts checks the
// counts against gpt-tokenizer and js-tiktoken on generated and real text.
import { setImmediate as nextTurn } from 'node:timers/promises';

/** a rank table built from a `.tiktoken` file (one `base64 rank` line per token) */
export class BpeRanks {
  private scratch = new Uint8Array(256);
  private starts = new Int32Array(64);
  private ranks = new Int32Array(64);
  /** this table's own copy of the pattern: count() is synchronous, so one lastIndex serves every call */
  private readonly split: RegExp;

  private constructor(
    /** every token's bytes, back to back */
    private readonly bytes: Uint8Array,
    /** token i's bytes are bytes[offsets[i] .. offsets[i + 1]] */
    private readonly offsets: Uint32Array,
    /** token i's rank */
    private readonly rankOf: Uint32Array,
    /** open addressing, linear probing: token index + 1, 0 = empty */
    private readonly table: Int32Array,
    /** the pre-tokenizer (global, unicode): splits text into the pieces BPE merges within */
    split: RegExp,
  ) {
    this.split = new RegExp(split.source, split.flags.includes('g') ? split.flags : `${split.flags}g`);
  }

  /** tokens in the table */
  get size(): number {
    return this.rankOf.length;
  }

  /**
   * Parse a `.tiktoken` file into a table. `linesPerTurn` lines are parsed per
   * turn of the event loop (the whole file would block it for tens of ms).
   */
  static async fromTiktoken(file: Uint8Array, split: RegExp, linesPerTurn = 1_000): Promise<BpeRanks> {
    // the lines are counted first (to size the arrays), also a slice per turn
    let lines = 0;
    const step = linesPerTurn * 32;
    for (let from = 0; from < file.length; from += step) {
      const to = Math.min(file.length, from + step);
      for (let i = file.indexOf(0x0a, from); i >= 0 && i < to; i = file.indexOf(0x0a, i + 1)) lines++;
      await nextTurn();
    }
    if (file.length > 0 && file[file.length - 1] !== 0x0a) lines++;
    const p = new TiktokenParser(file, lines);
    while (!p.parse(linesPerTurn)) await nextTurn();
    return new BpeRanks(p.bytes.slice(0, p.used), p.offsets.slice(0, p.n + 1), p.rankOf.slice(0, p.n), p.table, split);
  }

  /** tokens of `text` as plain text (special-token text is not special here) */
  count(text: string): number {
    let n = 0;
    const split = this.split;
    split.lastIndex = 0;
    for (let m = split.exec(text); m !== null; m = split.exec(text)) {
      if (m[0] === '') split.lastIndex++;
      else n += this.countPiece(m[0]);
    }
    return n;
  }

  /** tokens of one pre-token */
  private countPiece(piece: string): number {
    if (this.scratch.length < piece.length * 3) this.scratch = new Uint8Array(piece.length * 3);
    const buf = this.scratch;
    const len = utf8.encodeInto(piece, buf).written;
    if (len <= 1 || this.rank(buf, 0, len) >= 0) return 1;
    return this.merge(buf, len);
  }

  /** BPE over buf[0 .. len): the number of parts left when no adjacent pair is a token */
  private merge(buf: Uint8Array, len: number): number {
    if (this.starts.length < len + 1) {
      this.starts = new Int32Array(len + 1);
      this.ranks = new Int32Array(len + 1);
    }
    const starts = this.starts;
    const ranks = this.ranks;
    let parts = len + 1; // starts[parts - 1] === len closes the last part
    for (let i = 0; i <= len; i++) {
      starts[i] = i;
      ranks[i] = i < len - 1 ? this.pairRank(buf, i, i + 2) : NONE;
    }
    while (parts > 1) {
      let low = NONE;
      let at = -1;
      for (let i = 0; i < parts - 1; i++) {
        if (ranks[i]! < low) {
          low = ranks[i]!;
          at = i;
        }
      }
      if (at < 0) break;
      // parts at and at + 1 merge: drop start at + 1 and rank at
      starts.copyWithin(at + 1, at + 2, parts);
      ranks.copyWithin(at, at + 1, parts);
      parts--;
      ranks[at] = at + 2 < parts ? this.pairRank(buf, starts[at]!, starts[at + 2]!) : NONE;
      if (at > 0) ranks[at - 1] = this.pairRank(buf, starts[at - 1]!, starts[at + 1]!);
    }
    return parts - 1;
  }

  private pairRank(buf: Uint8Array, from: number, to: number): number {
    const r = this.rank(buf, from, to);
    return r < 0 ? NONE : r;
  }

  /** the rank of the token buf[from .. to), -1 when it is none */
  private rank(buf: Uint8Array, from: number, to: number): number {
    const table = this.table;
    const mask = table.length - 1;
    const { bytes, offsets } = this;
    const len = to - from;
    for (let slot = hash(buf, from, to) & mask; ; slot = (slot + 1) & mask) {
      const e = table[slot]!;
      if (e === 0) return -1;
      const i = e - 1;
      const o = offsets[i]!;
      if (offsets[i + 1]! - o !== len) continue;
      let k = 0;
      while (k < len && bytes[o + k] === buf[from + k]) k++;
      if (k === len) return this.rankOf[i]!;
    }
  }

}

/** the state of parsing a `.tiktoken` file, a slice of lines at a time (synchronous, so that it is optimised as one loop) */
class TiktokenParser {
  readonly bytes: Uint8Array;
  readonly offsets: Uint32Array;
  readonly rankOf: Uint32Array;
  readonly table: Int32Array;
  n = 0;
  used = 0;
  private at = 0;

  constructor(private readonly file: Uint8Array, lines: number) {
    // base64 decodes to 3/4 of its length: the file's size bounds all tokens' bytes
    this.bytes = new Uint8Array(file.length);
    this.offsets = new Uint32Array(lines + 1);
    this.rankOf = new Uint32Array(lines);
    let cap = 1024;
    while (cap < lines * 2) cap *= 2;
    this.table = new Int32Array(cap);
  }

  /** parse up to `lines` more lines: true when the file is done */
  parse(lines: number): boolean {
    const { file, bytes, offsets, rankOf, table } = this;
    const len = file.length;
    let { at, n, used } = this;
    for (let k = 0; k < lines && at < len; k++) {
      let space = at;
      while (space < len && file[space] !== 0x20 && file[space] !== 0x0a) space++;
      let end = space + 1;
      let rank = 0;
      while (end < len && file[end] !== 0x0a) {
        const d = file[end]! - 0x30;
        rank = rank >= 0 && d >= 0 && d <= 9 && rank < NONE ? rank * 10 + d : -1;
        end++;
      }
      if (space === at && (space >= len || file[space] === 0x0a)) { // an empty line
        at = space + 1;
        continue;
      }
      const size = decodeBase64(file, at, space, bytes, used);
      if (size <= 0 || space >= len || file[space] !== 0x20 || end === space + 1 || rank < 0 || rank >= NONE) {
        throw new Error(`tokenizer data: line ${n + 1} is not "base64 rank"`);
      }
      offsets[n] = used;
      used += size;
      rankOf[n] = rank;
      offsets[n + 1] = used;
      insert(table, bytes, offsets, n);
      n++;
      at = end + 1;
    }
    this.at = at;
    this.n = n;
    this.used = used;
    return at >= len;
  }
}

/** enter token i (its bytes: bytes[offsets[i] .. offsets[i + 1]]) into the table */
function insert(table: Int32Array, bytes: Uint8Array, offsets: Uint32Array, i: number): void {
  const mask = table.length - 1;
  let slot = hash(bytes, offsets[i]!, offsets[i + 1]!) & mask;
  while (table[slot] !== 0) slot = (slot + 1) & mask;
  table[slot] = i + 1;
}

/** the rank of a pair that is no token: above every real rank */
const NONE = 0x7fffffff;
const utf8 = new TextEncoder();

const BASE64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) BASE64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Decode the base64 of src[from .. to) into out at `into`: the bytes written,
 * -1 when it is not base64. By hand because Buffer's decoder wants a string,
 * and 200,000 of them made loading 10× slower.
 */
function decodeBase64(src: Uint8Array, from: number, to: number, out: Uint8Array, into: number): number {
  while (to > from && src[to - 1] === 0x3d) to--; // '=' padding
  let acc = 0;
  let bits = 0;
  let w = into;
  for (let i = from; i < to; i++) {
    const v = BASE64[src[i]!]!;
    if (v < 0) return -1;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[w++] = (acc >> bits) & 0xff;
    }
  }
  return w - into;
}

/** FNV-1a over buf[from .. to) */
function hash(buf: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}
