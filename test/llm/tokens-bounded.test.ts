// R-USG-2 / R-QTA-2: counting client text can neither stall nor hang the
// gateway. BPE is quadratic in one pre-token's length (300 KB of letters
// without a space took 50 s), so long runs are counted in pieces; long texts
// are counted slice by slice, yielding to the event loop between slices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEncoding } from 'js-tiktoken';
import { countTextTokens, countTokens, loadEncoding } from '../../src/llm/tokens.js';

const reference = getEncoding('o200k_base');
const exact = (s: string) => reference.encode(s, [], []).length;

test('ordinary text is counted exactly, also when longer than one slice', async () => {
  const enc = await loadEncoding('o200k_base');
  const words = 'The gateway counts what the client sent, word by word.\n';
  for (const text of [words, words.repeat(3000) /* ~170 KB, several slices */]) {
    assert.equal(await countTextTokens('gpt-4o', text), exact(text));
  }
  assert.equal(countTokens(enc, 'a <|endoftext|> b'), exact('a <|endoftext|> b'), 'special-token text counts as plain text');
});

test('a long run without whitespace is counted in pieces, close to the exact count', async () => {
  for (const run of ['x'.repeat(3_000), Array.from({ length: 3_000 }, (_, i) => String.fromCharCode(97 + ((i * 7919) % 26))).join('')]) {
    const text = `prefix ${run} suffix`;
    const got = await countTextTokens('gpt-4o', text);
    const want = exact(text);
    assert.ok(Math.abs(got - want) <= want * 0.25, `${got} tokens counted, ${want} exact`);
  }
});

test('R-USG-2/R-QTA-2: a long run of whitespace is counted in pieces, close to the exact count', async () => {
  for (const run of [' '.repeat(2_000), '\n'.repeat(2_000), ' \n\t'.repeat(700)]) {
    const text = `prefix${run}suffix`;
    const got = await countTextTokens('gpt-4o', text);
    const want = exact(text);
    assert.ok(Math.abs(got - want) <= Math.max(2, want * 0.25), `${got} tokens counted, ${want} exact`);
  }
});

test('R-USG-2/R-QTA-2: a 2 MB prompt of whitespace is counted, not stuck in a quadratic merge (32 KB of spaces took 1.6 s)', { timeout: 60_000 }, async () => {
  const text = (' '.repeat(300_000) + 'y').repeat(7);
  const n = await countTextTokens('gpt-4o', text);
  assert.ok(n > 0 && n < text.length / 16, `${n} tokens`);
});

test('a pathological 2 MB prompt is counted without blocking the event loop for its whole length', { timeout: 60_000 }, async () => {
  await loadEncoding('o200k_base');
  const text = ('y'.repeat(300_000) + ' ').repeat(7);
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 0);
  const n = await countTextTokens('gpt-4o', text);
  clearInterval(timer);
  assert.ok(n > 0);
  assert.ok(ticks > 0, 'timers ran while the text was counted');
});
