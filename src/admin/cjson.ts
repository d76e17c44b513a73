// The error text lua-cjson (APISIX's JSON decoder) gives for a body that is
// not valid JSON, so that `invalid request body: <text>` reads as APISIX's
// (R-ADM-10). Only called after JSON.parse failed.

type Tok =
  | 'T_OBJ_BEGIN' | 'T_OBJ_END' | 'T_ARR_BEGIN' | 'T_ARR_END' | 'T_STRING' | 'T_NUMBER'
  | 'T_BOOLEAN' | 'T_NULL' | 'T_COLON' | 'T_COMMA' | 'T_END' | 'T_ERROR';

interface Token {
  type: Tok;
  /** 0-based byte index */
  index: number;
  error?: string;
}

class ParseError extends Error {}

const STRUCT: Record<number, Tok> = {
  0x7b: 'T_OBJ_BEGIN', 0x7d: 'T_OBJ_END', 0x5b: 'T_ARR_BEGIN', 0x5d: 'T_ARR_END', 0x3a: 'T_COLON', 0x2c: 'T_COMMA',
};

const MAX_DEPTH = 1000;

export function cjsonDecodeError(buf: Buffer): string {
  let p = 0;
  let depth = 0;
  const n = buf.length;

  const next = (): Token => {
    while (p < n && (buf[p] === 0x20 || buf[p] === 0x09 || buf[p] === 0x0a || buf[p] === 0x0d)) p++;
    const index = p;
    if (p >= n || buf[p] === 0) return { type: 'T_END', index };
    const c = buf[p]!;
    const s = STRUCT[c];
    if (s) {
      p++;
      return { type: s, index };
    }
    if (c === 0x22) {
      p++;
      while (true) {
        if (p >= n || buf[p] === 0) return { type: 'T_ERROR', index, error: 'unexpected end of string' };
        const ch = buf[p]!;
        if (ch === 0x22) {
          p++;
          return { type: 'T_STRING', index };
        }
        if (ch === 0x5c) {
          const e = buf[p + 1];
          if (e === 0x75) {
            const hex = buf.subarray(p + 2, p + 6).toString('latin1');
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) return { type: 'T_ERROR', index, error: 'invalid unicode escape code' };
            p += 6;
            continue;
          }
          if (e === undefined || !'"\\/bfnrt'.includes(String.fromCharCode(e))) {
            return { type: 'T_ERROR', index, error: 'invalid escape code' };
          }
          p += 2;
          continue;
        }
        p++;
      }
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const m = /^-?(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[iI]nf(inity)?|[nN]a[nN])/.exec(buf.subarray(p, p + 400).toString('latin1'));
      if (!m || m[0] === '-') return { type: 'T_ERROR', index, error: 'invalid number' };
      p += m[0].length;
      return { type: 'T_NUMBER', index };
    }
    const rest = buf.subarray(p, p + 5).toString('latin1');
    if (rest.startsWith('true')) {
      p += 4;
      return { type: 'T_BOOLEAN', index };
    }
    if (rest.startsWith('false')) {
      p += 5;
      return { type: 'T_BOOLEAN', index };
    }
    if (rest.startsWith('null')) {
      p += 4;
      return { type: 'T_NULL', index };
    }
    return { type: 'T_ERROR', index, error: 'invalid token' };
  };

  const fail = (exp: string, t: Token): never => {
    throw new ParseError(`Expected ${exp} but found ${t.type === 'T_ERROR' ? t.error : t.type} at character ${t.index + 1}`);
  };
  const descend = () => {
    depth++;
    if (depth > MAX_DEPTH) throw new ParseError(`Found too many nested data structures (${depth}) at character ${p}`);
  };

  const value = (t: Token): void => {
    switch (t.type) {
      case 'T_STRING':
      case 'T_NUMBER':
      case 'T_BOOLEAN':
      case 'T_NULL':
        return;
      case 'T_OBJ_BEGIN': {
        descend();
        let k = next();
        if (k.type === 'T_OBJ_END') {
          depth--;
          return;
        }
        for (;;) {
          if (k.type !== 'T_STRING') fail('object key string', k);
          const colon = next();
          if (colon.type !== 'T_COLON') fail('colon', colon);
          value(next());
          const sep = next();
          if (sep.type === 'T_OBJ_END') {
            depth--;
            return;
          }
          if (sep.type !== 'T_COMMA') fail('comma or object end', sep);
          k = next();
        }
      }
      case 'T_ARR_BEGIN': {
        descend();
        let v = next();
        if (v.type === 'T_ARR_END') {
          depth--;
          return;
        }
        for (;;) {
          value(v);
          const sep = next();
          if (sep.type === 'T_ARR_END') {
            depth--;
            return;
          }
          if (sep.type !== 'T_COMMA') fail('comma or array end', sep);
          v = next();
        }
      }
      default:
        fail('value', t);
    }
  };

  try {
    value(next());
    const end = next();
    if (end.type !== 'T_END') fail('the end', end);
  } catch (e) {
    if (e instanceof ParseError) return e.message;
    if (e instanceof RangeError) return `Found too many nested data structures (${depth}) at character ${p}`;
    throw e;
  }
  // lua-cjson accepted what JSON.parse refused (hex numbers, Infinity, ...)
  return 'invalid JSON';
}
