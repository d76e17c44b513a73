// Token counting with a real tokenizer (R-QTA-2, R-USG-2): `o200k_base` for
// OpenAI-family models and `cl100k_base` otherwise, with gpt-tokenizer's rank
// files and split patterns, held compactly by src/llm/bpe.ts (why: there).
//
// An encoding is loaded the first time a count is actually needed (a gateway
// whose answers carry their usage and whose quotas are far from full never
// loads one) and then kept: measured on Node 20, o200k_base +13 MB RSS and
// 90–160 ms of loading in slices, the longest turn of the event loop 8–16 ms
// (gpt-tokenizer's own module: +58 MB / ~330 ms in one turn). countTokens() is synchronous
// once an encoding is loaded; loadEncoding() loads it.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BpeRanks } from './bpe.js';

export type EncodingName = 'o200k_base' | 'cl100k_base';

/** a loaded encoding */
export type Encoding = BpeRanks;

const loaded = new Map<EncodingName, Encoding>();
const loading = new Map<EncodingName, Promise<Encoding>>();

/** R-USG-2: o200k_base for OpenAI-family models (gpt-*, o1/o3/o4…, chatgpt-*), cl100k_base otherwise */
export function encodingFor(model: string | undefined): EncodingName {
  if (!model) return 'cl100k_base';
  const m = model.toLowerCase();
  const slash = m.lastIndexOf('/');
  const name = slash >= 0 ? m.slice(slash + 1) : m;
  if (name.startsWith('gpt-') || name.startsWith('chatgpt') || name.startsWith('text-embedding')
    || name.startsWith('davinci') || name.startsWith('babbage') || name.startsWith('omni-')
    || /^o[1-9](?:$|[-_])/.test(name)) return 'o200k_base';
  return 'cl100k_base';
}

/** the encoding when it is loaded already, else undefined (never loads) */
export function loadedEncoding(name: EncodingName): Encoding | undefined {
  return loaded.get(name);
}

/** load (once) and return an encoding */
export function loadEncoding(name: EncodingName): Promise<Encoding> {
  const have = loaded.get(name);
  if (have) return Promise.resolve(have);
  let p = loading.get(name);
  if (!p) {
    p = (async () => {
      const { O200K_TOKEN_SPLIT_REGEX, CL100K_TOKEN_SPLIT_REGEX } = await import('gpt-tokenizer/encodingParams/constants');
      const file = await readFile(createRequire(import.meta.url).resolve(`gpt-tokenizer/data/${name}.tiktoken`));
      const enc = await BpeRanks.fromTiktoken(file, name === 'o200k_base' ? O200K_TOKEN_SPLIT_REGEX : CL100K_TOKEN_SPLIT_REGEX);
      loaded.set(name, enc);
      loading.delete(name);
      return enc;
    })();
    p.catch(() => loading.delete(name));
    loading.set(name, p);
  }
  return p;
}

/** how many encodings were loaded in this process (tests: the lazy load) */
export function loadedEncodingCount(): number {
  return loaded.size;
}

// Byte-pair encoding is quadratic in the length of one pre-token: 100 KB of
// letters without a space took 5 s and 300 KB 50 s, 32 KB of spaces 1.6 s
// (gpt-tokenizer 4.0 and js-tiktoken alike; bpe.ts's merge is the same
// algorithm), and the text counted here is the client's. So a run of 64 or
// more non-whitespace characters is counted in 32-character pieces, and a run
// of 128 or more whitespace characters in 128-character pieces (an estimate
// within a token or two per piece of what the whole run would give), and text
// longer than SLICE is counted slice by slice, each slice starting at a
// whitespace character (where the tokenizer splits anyway), one slice per turn
// of the event loop.
const LONG_RUN = /\S{64,}|\s{128,}/g;
const PIECE = 32;
const SPACE_PIECE = 128;
const SLICE = 64 * 1024;
const WHITESPACE = /\s/;

/** tokens of `text` in a loaded encoding (special-token text is counted as plain text) */
export function countTokens(enc: Encoding, text: string): number {
  if (text === '') return 0;
  LONG_RUN.lastIndex = 0;
  if (!LONG_RUN.test(text)) return enc.count(text);
  let n = 0;
  let at = 0;
  LONG_RUN.lastIndex = 0;
  for (let m = LONG_RUN.exec(text); m !== null; m = LONG_RUN.exec(text)) {
    if (m.index > at) n += enc.count(text.slice(at, m.index));
    const run = m[0];
    const piece = WHITESPACE.test(run[0]!) ? SPACE_PIECE : PIECE;
    for (let i = 0; i < run.length; i += piece) n += enc.count(run.slice(i, i + piece));
    at = m.index + run.length;
  }
  if (at < text.length) n += enc.count(text.slice(at));
  return n;
}

/** where the slice starting at `from` ends: at a whitespace character near SLICE, else at SLICE */
function sliceEnd(text: string, from: number): number {
  const end = from + SLICE;
  if (end >= text.length) return text.length;
  for (let i = end; i > from + SLICE / 2; i--) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) return i;
  }
  return end;
}

/** count `text` for `model`, loading the encoding when needed; long texts yield to the event loop between slices */
export async function countTextTokens(model: string | undefined, text: string): Promise<number> {
  if (text === '') return 0;
  const enc = await loadEncoding(encodingFor(model));
  if (text.length <= SLICE) return countTokens(enc, text);
  let n = 0;
  for (let at = 0; at < text.length;) {
    const end = sliceEnd(text, at);
    n += countTokens(enc, text.slice(at, end));
    at = end;
    if (at < text.length) await nextTurn();
  }
  return n;
}

function pushContent(out: string[], c: unknown): void {
  if (typeof c === 'string') {
    out.push(c);
    return;
  }
  if (!Array.isArray(c)) return;
  for (const part of c) {
    if (typeof part === 'string') out.push(part);
    else if (part && typeof part === 'object') {
      const p = part as Record<string, unknown>;
      if (typeof p.text === 'string') out.push(p.text);
      else if (typeof p.input_text === 'string') out.push(p.input_text);
      if (p.content !== undefined && p.content !== p.text) pushContent(out, p.content);
      if (p.type === 'tool_use' && p.input !== undefined) out.push(JSON.stringify(p.input));
    }
  }
}

/**
 * R-USG-2: the prompt text of a request body as the tokenizer counts it:
 * the message contents (chat `messages`, Anthropic `system` + `messages`,
 * Responses `instructions` + `input`, embeddings `input`), the arguments of
 * earlier tool calls, and the tool definitions (their JSON).
 */
export function promptText(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const b = body as Record<string, unknown>;
  const out: string[] = [];
  if (b.system !== undefined) pushContent(out, b.system);
  if (typeof b.instructions === 'string') out.push(b.instructions);
  if (Array.isArray(b.messages)) {
    for (const m of b.messages) {
      if (!m || typeof m !== 'object') continue;
      const msg = m as Record<string, unknown>;
      pushContent(out, msg.content);
      if (Array.isArray(msg.tool_calls)) {
        for (const tc of msg.tool_calls) {
          const f = (tc as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
          if (typeof f?.name === 'string') out.push(f.name);
          if (typeof f?.arguments === 'string') out.push(f.arguments);
        }
      }
    }
  }
  if (b.input !== undefined) {
    if (typeof b.input === 'string') out.push(b.input);
    else if (Array.isArray(b.input)) {
      for (const it of b.input) {
        if (typeof it === 'string') out.push(it);
        else if (it && typeof it === 'object') pushContent(out, (it as Record<string, unknown>).content);
      }
    }
  }
  if (Array.isArray(b.tools) && b.tools.length > 0) out.push(JSON.stringify(b.tools));
  return out.join('\n');
}

/** prompt tokens of a request body for `model` (R-QTA-2 P, R-USG-2), loading the encoding when needed */
export async function countPromptTokens(body: unknown, model: string | undefined): Promise<number> {
  return countTextTokens(model, promptText(body));
}
