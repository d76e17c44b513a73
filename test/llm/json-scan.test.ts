// topLevelMember (src/llm/json-scan.ts) against JSON.parse: the usage of a
// relayed answer is read without parsing the answer (R-RSP-3, R-RL-7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topLevelMember } from '../../src/llm/json-scan.js';

/** a small deterministic PRNG (mulberry32) so failures reproduce */
function rng(seed: number): () => number {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRICKY = ['usage', '"usage":{"x":1}', '\\', '\\"', '{', '}', '[', ']', ',', ':', 'é', '\u2028', '"', '\\\\"usage\\\\"'];

function value(r: () => number, depth: number): unknown {
  const k = r();
  if (depth > 3 || k < 0.3) {
    const p = r();
    if (p < 0.25) return Math.floor(r() * 1e6) / 100;
    if (p < 0.5) return TRICKY[Math.floor(r() * TRICKY.length)]! + String(Math.floor(r() * 100));
    if (p < 0.6) return null;
    if (p < 0.7) return r() < 0.5;
    return 'text ' + 'x'.repeat(Math.floor(r() * 20));
  }
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
  return object(r, depth + 1);
}

function object(r: () => number, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const key = r() < 0.2 ? 'usage' : r() < 0.3 ? TRICKY[Math.floor(r() * TRICKY.length)]! : 'k' + i;
    o[key] = value(r, depth);
  }
  return o;
}

test('R-RSP-3: topLevelMember finds exactly what JSON.parse finds, over generated objects with tricky strings and nesting', () => {
  const r = rng(0x5eed);
  for (let n = 0; n < 3000; n++) {
    const o = object(r, 0);
    const text = r() < 0.5 ? JSON.stringify(o) : JSON.stringify(o, null, r() < 0.5 ? 2 : '\t');
    const got = topLevelMember(Buffer.from(text), 'usage');
    assert.equal(got.ok, true, text);
    if ('usage' in o) {
      assert.ok(got.ok && got.found, text);
      assert.deepEqual(got.ok && got.found ? got.value : undefined, o.usage, text);
    } else assert.ok(got.ok && !got.found, text);
  }
});

test('R-RSP-4: topLevelMember rejects what is not one JSON object', () => {
  for (const bad of ['', '[]', 'not json', '{"usage":{"a":1}', '{"usage":{"a":1}} x', '{"a":"unterminated}', '{"usage":{"a":}}', '"usage"', '{"usage" {"a":1}}']) {
    assert.equal(topLevelMember(Buffer.from(bad), 'usage').ok, false, bad);
  }
  const ok = topLevelMember(Buffer.from('  {"id":"x","usage":{"prompt_tokens":3,"completion_tokens":4},"z":[1,{"usage":9}]}\n'), 'usage');
  assert.deepEqual(ok, { ok: true, found: true, value: { prompt_tokens: 3, completion_tokens: 4 } });
  assert.deepEqual(topLevelMember(Buffer.from('{"choices":[{"usage":{"a":1}}]}'), 'usage'), { ok: true, found: false });
  // a repeated key: the last one counts, as with JSON.parse
  assert.deepEqual(topLevelMember(Buffer.from('{"usage":1,"usage":{"b":2}}'), 'usage'), { ok: true, found: true, value: { b: 2 } });
});
