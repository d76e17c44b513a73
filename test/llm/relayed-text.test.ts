// R-USG-2: what a relayed stream keeps for an estimate (RelayedText,
// src/llm/estimate.ts): its chunks while they are few, their completion text
// once they pass the bound. The text must be what streamText gives for all
// the chunks, however the stream was cut, and the bytes held stay bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { RelayedText, streamText } from '../../src/llm/estimate.js';
import { getProtocol } from '../../src/llm/protocols/index.js';

const openai = getProtocol('openai-chat');
const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

/** an OpenAI stream whose deltas are `texts` (content and tool-call arguments), with comments and `[DONE]` */
function openaiStream(texts: string[]): Buffer {
  const parts = texts.map((t, i) =>
    i % 3 === 2
      ? ev({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: t } }] } }], usage: null })
      : ev({ choices: [{ index: 0, delta: { content: t } }], usage: null }) + (i % 4 === 1 ? ': keep-alive\n\n' : ''));
  return Buffer.from(parts.join('') + 'data: [DONE]\n\n');
}

/** `b` cut at the given offsets (sorted, deduplicated, inside b) */
function cut(b: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((n) => n % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(b.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < b.length) out.push(b.subarray(from));
  return out;
}

test('R-USG-2: RelayedText gives streamText\'s text for every cut of a stream, below and past its bound; the bytes it holds stay bounded', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', ' ', '"', '\\', '\n', 'x'), maxLength: 12 });
  fc.assert(fc.property(fc.array(text, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 40 }), fc.integer({ min: 1, max: 400 }), (texts, at, keep) => {
    const chunks = cut(openaiStream(texts), at);
    const want = streamText(openai, chunks);
    const kept = new RelayedText(openai, false, keep);
    let widest = 0;
    for (const c of chunks) {
      kept.push(c);
      widest = Math.max(widest, c.length);
      assert.ok(kept.keptBytes <= keep + widest, `holds ${kept.keptBytes} bytes, bound ${keep}`);
    }
    assert.equal(kept.any, chunks.length > 0);
    assert.equal(kept.text(), want);
  }), { numRuns: 400, seed: 20261207 });
});

test('R-USG-2: RelayedText past its bound holds text, not chunks; clear() (the usage was seen) drops everything', () => {
  const texts = Array.from({ length: 400 }, (_, i) => `word${i} `);
  const chunks = cut(openaiStream(texts), Array.from({ length: 399 }, (_, i) => (i + 1) * 97));
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const kept = new RelayedText(openai, false, 4096);
  for (const c of chunks) kept.push(c);
  assert.ok(total > 30_000, `the stream has ${total} bytes`);
  assert.equal(kept.keptBytes, 0, 'past the bound no chunk is held');
  assert.equal(kept.text(), texts.join(''));
  kept.clear();
  assert.equal(kept.any, false);

  const short = new RelayedText(openai);
  short.push(chunks[0]!);
  assert.equal(short.keptBytes, chunks[0]!.length, 'below the bound the chunk is held as it is');
  short.clear();
  assert.equal(short.any, false);
  assert.equal(short.text(), '');
});

test('R-USG-2 R-BDR-1: RelayedText over Bedrock event-stream frames, past its bound', () => {
  const bedrock = getProtocol('bedrock-converse');
  const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => Buffer.from(s, 'utf8'));
  const frame = (eventType: string, payload: unknown) => Buffer.from(codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: Buffer.from(JSON.stringify(payload)),
  }));
  const words = Array.from({ length: 50 }, (_, i) => `w${i} `);
  const bytes = Buffer.concat([frame('messageStart', { role: 'assistant' }), ...words.map((t) => frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: t } }))]);
  const chunks = cut(bytes, Array.from({ length: 60 }, (_, i) => i * 53 + 11));
  const kept = new RelayedText(bedrock, true, 300);
  for (const c of chunks) kept.push(c);
  assert.equal(kept.keptBytes, 0);
  assert.equal(kept.text(), words.join(''));
  assert.equal(streamText(bedrock, chunks, true), words.join(''));
});
