// topLevelMember (src/llm/json-scan.ts) against JSON.parse: the usage of a
// relayed answer is read without parsing the answer (R-RSP-3, R-RL-7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { objectCounts, topLevelMember, topLevelMemberCount, topLevelMemberSpan } from '../../src/llm/json-scan.js';
import { openaiChat } from '../../src/llm/protocols/openai-chat.js';
import { newUsage } from '../../src/llm/usage.js';

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

test('R-REQ-4: topLevelMemberCount is the number of keys JSON.parse keeps when no key repeats, and more when one does', () => {
  const r = rng(0xc0de);
  for (let n = 0; n < 3000; n++) {
    const o = object(r, 0);
    const text = r() < 0.5 ? JSON.stringify(o) : JSON.stringify(o, null, r() < 0.5 ? 2 : '\t');
    const keys = Object.keys(o).length;
    assert.equal(topLevelMemberCount(Buffer.from(text)), keys, text);
    if (keys > 0) {
      // the first member written again, as is or with a key escape: one more member than JSON.parse keeps
      const first = Object.keys(o)[0]!;
      const esc = JSON.stringify(first).replace(/[a-z]/, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
      const dup = text.replace(/^\{/, `{${r() < 0.5 ? JSON.stringify(first) : esc}:1,`);
      assert.equal(topLevelMemberCount(Buffer.from(dup)), keys + 1, dup);
      assert.equal(Object.keys(JSON.parse(dup)).length, keys, dup);
    }
  }
  assert.equal(topLevelMemberCount(Buffer.from(' {} ')), 0);
  for (const bad of ['', '[]', '{"a":1', '{"a":1} x', '{"a":"x}', '"a"']) assert.equal(topLevelMemberCount(Buffer.from(bad)), -1, bad);
});

// R-RSP-3: the usage counts of a relayed answer read from the bytes of its
// `usage` member (objectCounts + the protocol's usageCounts), against
// extractUsage over JSON.parse; the raw usage is parsed only when read.
const COUNT_KEYS = ['prompt_tokens', 'completion_tokens', 'total_tokens'];

function countValue(r: () => number): string {
  const p = r();
  if (p < 0.35) return String(Math.floor(r() * 100000));
  if (p < 0.45) return String(-Math.floor(r() * 100));
  if (p < 0.5) return (r() * 1000).toFixed(2);
  if (p < 0.55) return '1e3';
  if (p < 0.58) return '1E999';
  if (p < 0.65) return 'null';
  if (p < 0.7) return '"12"';
  if (p < 0.75) return r() < 0.5 ? 'true' : 'false';
  if (p < 0.85) return JSON.stringify(object(r, 2));
  return JSON.stringify(value(r, 2));
}

/** the text of a usage object with repeated keys and blanks JSON.stringify never writes */
function usageText(r: () => number): { text: string; escapedKey: boolean } {
  const blank = () => (r() < 0.3 ? [' ', '\n', '\t ', '\r\n  '][Math.floor(r() * 4)]! : '');
  const members: string[] = [];
  let escapedKey = false;
  const n = Math.floor(r() * 7);
  for (let i = 0; i < n; i++) {
    const key = r() < 0.6 ? COUNT_KEYS[Math.floor(r() * 3)]! : r() < 0.5 ? TRICKY[Math.floor(r() * TRICKY.length)]! : 'details_' + i;
    const v = COUNT_KEYS.includes(key) ? countValue(r) : JSON.stringify(value(r, 1));
    escapedKey ||= JSON.stringify(key).includes('\\');
    members.push(`${blank()}${JSON.stringify(key)}${blank()}:${blank()}${v}${blank()}`);
  }
  return { text: `${blank()}{${members.join(',')}${n === 0 ? blank() : ''}}${blank()}`, escapedKey };
}

test('R-RSP-3: objectCounts + usageCounts give what extractUsage gives over JSON.parse (repeated keys, every value type)', () => {
  const r = rng(0xc0417);
  let counted = 0;
  for (let n = 0; n < 6000; n++) {
    const { text: usage, escapedKey } = usageText(r);
    const body = Buffer.from(`{"id":"x","usage":${usage},"z":1}`);
    const span = topLevelMemberSpan(body, 'usage');
    assert.ok(span.ok && span.found, usage);
    const want = newUsage();
    openaiChat.extractUsage({ usage: JSON.parse(usage) }, want);
    const values = objectCounts(body, span.start, span.end, openaiChat.usageCounts!.keys);
    // an escaped key may spell a count's name: left to JSON.parse
    if (escapedKey) {
      assert.equal(values, undefined, usage);
      continue;
    }
    assert.ok(values !== undefined, usage);
    const got = newUsage();
    openaiChat.usageCounts!.read(values, got);
    assert.deepEqual([got.prompt, got.completion, got.total], [want.prompt, want.completion, want.total], usage);
    assert.deepEqual(JSON.parse(body.toString('utf8', span.start, span.end)), JSON.parse(usage));
    counted++;
  }
  assert.ok(counted > 4000, `${counted} of 6000 read without parsing`);
});

test('R-RSP-3: objectCounts leaves to JSON.parse what it cannot read', () => {
  const at = (text: string) => {
    const b = Buffer.from(text);
    return objectCounts(b, 0, b.length, COUNT_KEYS);
  };
  // not an object, broken literals and numbers, a trailing comma, an escaped key that may spell a count
  for (const bad of ['null', '[1]', '7', '{"prompt_tokens":tru}', '{"prompt_tokens":01}', '{"prompt_tokens":-01}', '{"prompt_tokens":-}', '{"prompt_tokens":--1}', '{"prompt_tokens":1.}', '{"prompt_tokens":1-2}', '{"a":1,}', '{"prompt\\u005ftokens":3}', '{"a":1', '{"a":1} x', '{,}']) {
    assert.equal(at(bad), undefined, bad);
  }
  assert.deepEqual(at(' { } '), [undefined, undefined, undefined]);
  // integers are read from their digits; past 15 digits (or with a fraction or exponent) through Number
  assert.deepEqual(at('{"prompt_tokens":0,"completion_tokens":-0,"total_tokens":999999999999999}'), [0, -0, 999999999999999]);
  assert.deepEqual(at('{"prompt_tokens":12345678901234567,"completion_tokens":1e2,"total_tokens":-7}'), [12345678901234567, 100, -7]);
  assert.deepEqual(at('{"total_tokens":5,"prompt_tokens":"3","total_tokens":-2.5e1,"completion_tokens":null}'), [null, null, -25]);
  // an answer without usage, and one whose usage repeats: the span is the last value
  assert.deepEqual(topLevelMemberSpan(Buffer.from('{"choices":[{"usage":1}]}'), 'usage'), { ok: true, found: false });
  const b = Buffer.from('{"usage":1,"usage": {"b":2} }');
  const s = topLevelMemberSpan(b, 'usage');
  assert.ok(s.ok && s.found);
  assert.deepEqual(JSON.parse(b.toString('utf8', s.start, s.end)), { b: 2 });
  assert.equal(topLevelMemberSpan(Buffer.from('{"usage":1'), 'usage').ok, false);
});
