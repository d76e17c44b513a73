// Reads one top-level member of a JSON object without parsing the rest.
// Token usage sits in a small `usage` member of answers that are mostly
// generated text; JSON.parse of the whole answer (and the garbage of its
// tree) was the largest cost left in a relayed non-streamed request that
// ai-rate-limiting or prometheus charge. The scan checks the structure it
// walks (strings, escapes, nesting) and parses only the member's value.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Index just past the string that starts at `i` (a quote), or -1 when it
 * does not end. The next quote is found with Buffer#indexOf (memchr): the
 * generated text is nearly all string bytes, so this is where the time goes.
 */
function skipString(b: Buffer, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, j);
    if (q < 0) return -1;
    // escaped when preceded by an odd number of backslashes
    let k = q - 1;
    while (k > i && b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    j = q + 1;
  }
}

function keyIs(b: Buffer, start: number, end: number, key: string): boolean {
  // start..end are the bytes between the quotes
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (b[start + k] !== key.charCodeAt(k)) return false;
  return true;
}

export type MemberScan =
  /** `buf` is not one JSON object (as far as its nesting and strings show) */
  | { ok: false }
  /** an object without that member */
  | { ok: true; found: false }
  | { ok: true; found: true; value: unknown };

const NOT_OBJECT = Object.freeze({ ok: false } as const);
const ABSENT = Object.freeze({ ok: true, found: false } as const);

/**
 * The value of the top-level member `key` (ASCII, no escapes) of the JSON
 * object in `buf`. Only that value is parsed; a value that does not parse
 * makes the whole answer `{ok: false}`.
 */
export function topLevelMember(buf: Buffer, key: string): MemberScan {
  let found: MemberScan = ABSENT;
  const whole = scanTopLevel(buf, key, (start, end) => {
    found = member(buf, start, end);
    return found.ok;
  });
  return whole ? found : NOT_OBJECT;
}

export type MemberSpan =
  | { ok: false }
  | { ok: true; found: false }
  /** the value's bytes are `buf[start..end)` (blanks around it included) */
  | { ok: true; found: true; start: number; end: number };

/**
 * Where the value of the top-level member `key` is, as topLevelMember finds
 * it, without parsing anything (the last one when the key repeats).
 */
export function topLevelMemberSpan(buf: Buffer, key: string): MemberSpan {
  let start = -1;
  let end = -1;
  const whole = scanTopLevel(buf, key, (s, e) => {
    start = s;
    end = e;
    return true;
  });
  if (!whole) return NOT_OBJECT;
  return start < 0 ? ABSENT : { ok: true, found: true, start, end };
}

/**
 * Walks the JSON object in `buf` (strings, escapes, nesting) and hands each
 * value of the top-level member `key` to `onValue` (false: stop, not one
 * object). False when `buf` is not one JSON object.
 */
function scanTopLevel(buf: Buffer, key: string, onValue: (start: number, end: number) => boolean): boolean {
  let i = 0;
  const n = buf.length;
  while (i < n && isSpace(buf[i]!)) i++;
  if (buf[i] !== LBRACE) return false;
  let depth = 0;
  let expectKey = false;
  let valueStart = -1;
  for (; i < n; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const end = skipString(buf, i);
      if (end < 0) return false;
      if (depth === 1 && expectKey) {
        expectKey = false;
        if (keyIs(buf, i + 1, end - 1, key)) {
          let j = end;
          while (j < n && isSpace(buf[j]!)) j++;
          if (buf[j] !== COLON) return false;
          valueStart = j + 1;
          i = j;
          continue;
        }
      }
      i = end - 1;
    } else if (c === LBRACE || c === LBRACKET) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === RBRACE || c === RBRACKET) {
      if (depth === 1 && valueStart >= 0) {
        if (!onValue(valueStart, i)) return false;
        valueStart = -1;
      }
      depth--;
      if (depth === 0) {
        for (let j = i + 1; j < n; j++) if (!isSpace(buf[j]!)) return false;
        return true;
      }
      if (depth < 0) return false;
    } else if (c === COMMA && depth === 1) {
      expectKey = true;
      if (valueStart >= 0) {
        if (!onValue(valueStart, i)) return false;
        valueStart = -1;
      }
    }
  }
  return false;
}

/**
 * How many members the JSON object in `buf` has as written, repeated keys
 * counted each time (JSON.parse keeps the last), or -1 when `buf` is not one
 * object as far as its nesting and strings show.
 */
export function topLevelMemberCount(buf: Buffer): number {
  let i = 0;
  const n = buf.length;
  while (i < n && isSpace(buf[i]!)) i++;
  if (buf[i] !== LBRACE) return -1;
  let depth = 0;
  let commas = 0;
  let empty = true;
  for (; i < n; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const end = skipString(buf, i);
      if (end < 0) return -1;
      if (depth === 1) empty = false;
      i = end - 1;
    } else if (c === LBRACE || c === LBRACKET) {
      depth++;
    } else if (c === RBRACE || c === RBRACKET) {
      depth--;
      if (depth === 0) {
        for (let j = i + 1; j < n; j++) if (!isSpace(buf[j]!)) return -1;
        return empty ? 0 : commas + 1;
      }
      if (depth < 0) return -1;
    } else if (c === COMMA && depth === 1) {
      commas++;
    }
  }
  return -1;
}

/** a count member's value: a number, `null` when present but not a JSON number, undefined when absent */
export type CountValue = number | null | undefined;

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * The members `keys` of the JSON object at `buf[start..end)`, read without
 * parsing it: each as a number when its value is a JSON number literal,
 * `null` when it is any other value. Undefined when the bytes are not an
 * object this scan can read (then parse them); nested values are skipped by
 * their structure (strings, nesting) only. The last of repeated keys counts,
 * as with JSON.parse.
 */
export function objectCounts(buf: Buffer, start: number, end: number, keys: readonly string[]): CountValue[] | undefined {
  let i = start;
  while (i < end && isSpace(buf[i]!)) i++;
  if (buf[i] !== LBRACE) return undefined;
  i++;
  const out: CountValue[] = new Array(keys.length).fill(undefined);
  let first = true;
  for (;;) {
    while (i < end && isSpace(buf[i]!)) i++;
    if (first && buf[i] === RBRACE) { i++; break; }
    first = false;
    if (buf[i] !== QUOTE) return undefined;
    const keyEnd = skipString(buf, i);
    if (keyEnd < 0 || keyEnd > end) return undefined;
    const keyStart = i + 1;
    // an escaped key may spell a count's name: JSON.parse decodes it
    for (let k = keyStart; k < keyEnd - 1; k++) if (buf[k] === BACKSLASH) return undefined;
    i = keyEnd;
    while (i < end && isSpace(buf[i]!)) i++;
    if (buf[i] !== COLON) return undefined;
    i++;
    while (i < end && isSpace(buf[i]!)) i++;
    const valueStart = i;
    i = skipValue(buf, i, end);
    if (i < 0) return undefined;
    for (let k = 0; k < keys.length; k++) {
      if (!keyIs(buf, keyStart, keyEnd - 1, keys[k]!)) continue;
      const c = buf[valueStart]!;
      if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
        const n = intLiteral(buf, valueStart, i);
        out[k] = n === n ? n : Number(buf.toString('latin1', valueStart, i));
      } else out[k] = null;
    }
    while (i < end && isSpace(buf[i]!)) i++;
    if (buf[i] === COMMA) { i++; continue; }
    if (buf[i] === RBRACE) { i++; break; }
    return undefined;
  }
  while (i < end && isSpace(buf[i]!)) i++;
  return i === end ? out : undefined;
}

/** index just past the JSON value at `i` (before `end`), or -1; literals and numbers are checked, nested values by structure */
function skipValue(b: Buffer, i: number, end: number): number {
  const c = b[i];
  if (c === QUOTE) {
    const e = skipString(b, i);
    return e < 0 || e > end ? -1 : e;
  }
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    for (let j = i; j < end; j++) {
      const d = b[j]!;
      if (d === QUOTE) {
        const e = skipString(b, j);
        if (e < 0 || e > end) return -1;
        j = e - 1;
      } else if (d === LBRACE || d === LBRACKET) depth++;
      else if (d === RBRACE || d === RBRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < end) {
    const d = b[j]!;
    if (d === COMMA || d === RBRACE || d === RBRACKET || isSpace(d)) break;
    j++;
  }
  if (j === i) return -1;
  // token counts are integers: no string, no regex for them
  const n = intLiteral(b, i, j);
  if (n === n) return j;
  const tok = b.toString('latin1', i, j);
  return tok === 'true' || tok === 'false' || tok === 'null' || JSON_NUMBER.test(tok) ? j : -1;
}

/**
 * The value of `b[i..j)` when it is a JSON integer literal of at most 15
 * digits (exact as a double), else NaN (other numbers, leading zeros, not a
 * number): read from the bytes, without a string or a regex per count.
 */
function intLiteral(b: Buffer, i: number, j: number): number {
  const neg = b[i] === 0x2d;
  let k = neg ? i + 1 : i;
  const digits = j - k;
  if (digits < 1 || digits > 15 || (b[k] === 0x30 && digits > 1)) return NaN;
  let v = 0;
  for (; k < j; k++) {
    const d = b[k]! - 0x30;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return neg ? -v : v;
}

function member(buf: Buffer, start: number, end: number): MemberScan {
  try {
    return { ok: true, found: true, value: JSON.parse(buf.toString('utf8', start, end)) };
  } catch {
    return NOT_OBJECT;
  }
}
