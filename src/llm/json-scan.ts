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

const NOT_OBJECT: MemberScan = Object.freeze({ ok: false });
const ABSENT: MemberScan = Object.freeze({ ok: true, found: false });

/**
 * The value of the top-level member `key` (ASCII, no escapes) of the JSON
 * object in `buf`. Only that value is parsed; a value that does not parse
 * makes the whole answer `{ok: false}`.
 */
export function topLevelMember(buf: Buffer, key: string): MemberScan {
  let i = 0;
  const n = buf.length;
  while (i < n && isSpace(buf[i]!)) i++;
  if (buf[i] !== LBRACE) return NOT_OBJECT;
  let depth = 0;
  let expectKey = false;
  let valueStart = -1;
  let found: MemberScan = ABSENT;
  for (; i < n; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const end = skipString(buf, i);
      if (end < 0) return NOT_OBJECT;
      if (depth === 1 && expectKey) {
        expectKey = false;
        if (keyIs(buf, i + 1, end - 1, key)) {
          let j = end;
          while (j < n && isSpace(buf[j]!)) j++;
          if (buf[j] !== COLON) return NOT_OBJECT;
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
        found = member(buf, valueStart, i);
        valueStart = -1;
        if (!found.ok) return NOT_OBJECT;
      }
      depth--;
      if (depth === 0) {
        for (let j = i + 1; j < n; j++) if (!isSpace(buf[j]!)) return NOT_OBJECT;
        return found;
      }
      if (depth < 0) return NOT_OBJECT;
    } else if (c === COMMA && depth === 1) {
      expectKey = true;
      if (valueStart >= 0) {
        found = member(buf, valueStart, i);
        valueStart = -1;
        if (!found.ok) return NOT_OBJECT;
      }
    }
  }
  return NOT_OBJECT;
}

function member(buf: Buffer, start: number, end: number): MemberScan {
  try {
    return { ok: true, found: true, value: JSON.parse(buf.toString('utf8', start, end)) };
  } catch {
    return NOT_OBJECT;
  }
}
