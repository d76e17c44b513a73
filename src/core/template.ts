// Templates (R-VAR-20): `$name` (letters, digits, `_`, `.`), `${name}`,
// `${name ?? default}`, `\$` is a literal `$`. An unset variable without a
// default renders as "". The template "resolves" when at least one variable
// in it was found. Parsed once into parts; rendering only reads variables.
export interface CompiledTemplate {
  /** renders the template; `resolved` is true when at least one variable was found */
  render(getVar: (name: string) => string | number | undefined): { text: string; resolved: boolean };
  /** the variable names referenced (in order) */
  readonly vars?: readonly string[];
}

type Part = string | { name: string; def?: string };

function isNameChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46;
}

export function parseTemplate(src: string): Part[] {
  const parts: Part[] = [];
  let lit = '';
  let i = 0;
  const n = src.length;
  while (i < n) {
    const ch = src[i]!;
    if (ch === '\\' && src[i + 1] === '$') {
      lit += '$';
      i += 2;
      continue;
    }
    if (ch === '$') {
      if (src[i + 1] === '{') {
        const close = src.indexOf('}', i + 2);
        if (close < 0) {
          lit += src.slice(i);
          break;
        }
        const inner = src.slice(i + 2, close);
        const q = inner.indexOf('??');
        const name = (q < 0 ? inner : inner.slice(0, q)).trim();
        const def = q < 0 ? undefined : inner.slice(q + 2).trim();
        if (lit) parts.push(lit);
        lit = '';
        parts.push(def === undefined ? { name } : { name, def });
        i = close + 1;
        continue;
      }
      let j = i + 1;
      while (j < n && isNameChar(src.charCodeAt(j))) j++;
      if (j === i + 1) {
        lit += '$';
        i++;
        continue;
      }
      if (lit) parts.push(lit);
      lit = '';
      parts.push({ name: src.slice(i + 1, j) });
      i = j;
      continue;
    }
    lit += ch;
    i++;
  }
  if (lit) parts.push(lit);
  return parts;
}

export function compileTemplate(src: string): CompiledTemplate {
  const parts = parseTemplate(String(src));
  const vars = parts.filter((p): p is { name: string } => typeof p !== 'string').map((p) => p.name);
  if (vars.length === 0) {
    const text = parts.join('');
    const out = { text, resolved: false };
    return { vars, render: () => ({ ...out }) };
  }
  return {
    vars,
    render(getVar) {
      let text = '';
      let resolved = false;
      for (let k = 0; k < parts.length; k++) {
        const p = parts[k]!;
        if (typeof p === 'string') {
          text += p;
          continue;
        }
        const v = getVar(p.name);
        if (v === undefined || v === null) {
          if (p.def !== undefined) text += p.def;
        } else {
          resolved = true;
          text += String(v);
        }
      }
      return { text, resolved };
    },
  };
}
