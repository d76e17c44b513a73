// R-USG-2 / R-QTA-2: the compact rank tables of src/llm/bpe.ts count exactly
// what the tokenizer libraries count: gpt-tokenizer (whose rank files and split
// patterns they load) on generated text, and js-tiktoken (an independent
// implementation) on the project's own docs and sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { getEncoding } from 'js-tiktoken';
import * as gptO200k from 'gpt-tokenizer/encoding/o200k_base';
import * as gptCl100k from 'gpt-tokenizer/encoding/cl100k_base';
import { BpeRanks } from '../../src/llm/bpe.js';
import { loadEncoding, type EncodingName } from '../../src/llm/tokens.js';

const PLAIN = { disallowedSpecial: new Set<string>() };
const tiktoken = { o200k_base: getEncoding('o200k_base'), cl100k_base: getEncoding('cl100k_base') };
const libraries: Record<EncodingName, { gpt: (s: string) => number; tiktoken: (s: string) => number }> = {
  o200k_base: { gpt: (s) => gptO200k.countTokens(s, PLAIN), tiktoken: (s) => tiktoken.o200k_base.encode(s, [], []).length },
  cl100k_base: { gpt: (s) => gptCl100k.countTokens(s, PLAIN), tiktoken: (s) => tiktoken.cl100k_base.encode(s, [], []).length },
};

// words, numbers, punctuation, contractions, whitespace runs, CJK, emoji,
// combining marks and code: the classes the split patterns treat apart
const pieces = fc.constantFrom(
  'the', 'The', ' gateway', 'HTTP', 'McDonald', "'s", "'LL", "don't", ' ', '  ', '\n', '\r\n', '\t', '\n\n  ',
  '0', '12', '1234567', '3.14', ',', '.', '!?', '->', '{"a":1}', '/*', '*/', '//', '\\u00e9', '=>', '$x', '#',
  'é', 'ß', 'naïve', 'Ünïcödé', '東京', '日本語のテキスト', '한국어', 'Привет', 'مرحبا', 'שלום', 'e\u0301', '🙂', '👩‍💻', '🇫🇷',
  '<|endoftext|>', 'aaaaaaaa', 'ZZZZ', 'x_y_z', 'camelCaseName', 'snake_case', 'https://example.com/a?b=c',
);
const texts = fc.oneof(
  fc.array(pieces, { maxLength: 40 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 80 }),
);

for (const name of ['o200k_base', 'cl100k_base'] as const) {
  test(`R-USG-2: ${name}: generated text counts as gpt-tokenizer counts it`, async () => {
    const enc = await loadEncoding(name);
    fc.assert(fc.property(texts, (s) => enc.count(s) === libraries[name].gpt(s)), { numRuns: 3_000 });
  });

  test(`R-USG-2: ${name}: the project's docs and sources count as js-tiktoken counts them`, async () => {
    const enc = await loadEncoding(name);
    const files = [
      ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f)),
      'README.md',
      ...readdirSync('src/llm').filter((f) => f.endsWith('.ts')).map((f) => join('src/llm', f)),
    ];
    let tokens = 0;
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      const want = libraries[name].tiktoken(text);
      assert.equal(enc.count(text), want, f);
      tokens += want;
    }
    assert.ok(files.length > 20 && tokens > 100_000, `${files.length} files, ${tokens} tokens compared`);
  });
}

test('R-USG-2: the merge takes the pair of lowest rank first, and counts the parts left', async () => {
  // a b c d e, then "bc" before "ab" before "cd"; "abcd" is a token only reachable by merging ab and cd first
  const ranks = ['a', 'b', 'c', 'd', 'e', 'bc', 'ab', 'cd', 'abcd'].map((t, i) => `${Buffer.from(t).toString('base64')} ${i}`).join('\n');
  const enc = await BpeRanks.fromTiktoken(Buffer.from(`${ranks}\n`), /\S+|\s+/gu);
  assert.equal(enc.size, 9);
  assert.equal(enc.count('abcd'), 1, 'a piece that is a token is one');
  assert.equal(enc.count('abcde'), 4, 'a|bc|d|e: "bc" has the lowest rank');
  assert.equal(enc.count('ab cd'), 3, '"ab", " ", "cd"');
  assert.equal(enc.count('cdab'), 2);
});

test('R-USG-2: a rank file that is not "base64 rank" lines is refused with the line named', async () => {
  await assert.rejects(BpeRanks.fromTiktoken(Buffer.from('YQ== 0\nYg== x\n'), /\S+/gu), /line 2 is not "base64 rank"/);
  await assert.rejects(BpeRanks.fromTiktoken(Buffer.from('YQ== 0\n!!\n'), /\S+/gu), /line 2 is not "base64 rank"/);
  const blankLines = await BpeRanks.fromTiktoken(Buffer.from('YQ== 0\n\nYg== 1'), /\S+/gu);
  assert.equal(blankLines.size, 2);
  assert.equal(blankLines.count('ab'), 2);
});

test('R-USG-2: loading parses the rank file in slices: timers run while it loads', async () => {
  const file = readFileSync(join('node_modules', 'gpt-tokenizer', 'data', 'cl100k_base.tiktoken'));
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 0);
  const enc = await BpeRanks.fromTiktoken(file, /\S+/gu, 2_000);
  clearInterval(timer);
  assert.equal(enc.size, 100_256);
  assert.ok(ticks > 0, 'timers ran while the ranks were parsed');
});
