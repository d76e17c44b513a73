// R-BDR-1: the AWS event-stream parser of Bedrock's converse-stream answers
// cuts any split of the bytes into the same messages, copies each message's
// bytes a bounded number of times however small the chunks (no re-joining of
// everything pending on every chunk), and reports broken framing; R-USG-2
// reads the completion text of relayed event-stream frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { AwsEventStreamParser, EventStreamFramingError } from '../../src/llm/aws-eventstream.js';
import { streamText } from '../../src/llm/estimate.js';
import { getProtocol } from '../../src/llm/protocols/index.js';
import type { SseEvent } from '../../src/llm/sse.js';

const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => Buffer.from(s, 'utf8'));
function frame(eventType: string, payload: unknown): Buffer {
  return Buffer.from(codec.encode({
    headers: { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: eventType } },
    body: Buffer.from(JSON.stringify(payload)),
  }));
}
const delta = (text: string) => frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } });

const EVENTS: SseEvent[] = [
  { event: 'messageStart', data: JSON.stringify({ role: 'assistant' }) },
  { event: 'contentBlockDelta', data: JSON.stringify({ contentBlockIndex: 0, delta: { text: 'x'.repeat(3000) } }) },
  { event: 'contentBlockDelta', data: JSON.stringify({ contentBlockIndex: 0, delta: { text: 'short' } }) },
  { event: 'messageStop', data: JSON.stringify({ stopReason: 'end_turn' }) },
];
const BYTES = Buffer.concat(EVENTS.map((e) => frame(e.event!, JSON.parse(e.data))));

function parse(chunks: Buffer[]): { events: SseEvent[]; broken: Error[] } {
  const events: SseEvent[] = [];
  const broken: Error[] = [];
  const p = new AwsEventStreamParser((e) => events.push({ event: e.event, data: e.data }), (err) => broken.push(err));
  for (const c of chunks) p.push(c);
  p.end();
  return { events, broken };
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(from, c));
    from = c;
  }
  return out;
}

test('R-BDR-1 messages pushed one byte at a time decode as the whole stream does', () => {
  const bytes: Buffer[] = [];
  for (let i = 0; i < BYTES.length; i++) bytes.push(BYTES.subarray(i, i + 1));
  assert.deepEqual(parse(bytes), { events: EVENTS, broken: [] });
  assert.deepEqual(parse([BYTES]), { events: EVENTS, broken: [] });
});

test('R-BDR-1 any split of the stream decodes to the same messages', () => {
  fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
    assert.deepEqual(parse(split(BYTES, cuts)), { events: EVENTS, broken: [] });
  }), { numRuns: 300 });
});

test('R-BDR-1 a large message in small chunks is joined once, not on every chunk', (t) => {
  const big = delta('y'.repeat(1024 * 1024));
  let copied = 0;
  const concat = Buffer.concat;
  t.mock.method(Buffer, 'concat', (list: readonly Uint8Array[], total?: number) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  });
  const got = parse(split(big, Array.from({ length: Math.ceil(big.length / 256) }, (_, i) => i * 256)));
  t.mock.restoreAll();
  assert.equal(got.broken.length, 0);
  assert.equal(got.events.length, 1);
  assert.equal(JSON.parse(got.events[0]!.data).delta.text.length, 1024 * 1024);
  assert.ok(copied <= 2 * big.length, `bytes copied ${copied} for a ${big.length}-byte message`);
});

test('R-BDR-1 R-STR-2 a flipped CRC, a stream ending inside a message and an impossible length are reported, later bytes ignored', () => {
  const bad = Buffer.from(delta('lost'));
  bad[bad.length - 1] ^= 0xff;
  let r = parse([frame('messageStart', {}), bad, delta('after')]);
  assert.deepEqual(r.events.map((e) => e.event), ['messageStart']);
  assert.equal(r.broken.length, 1);
  assert.ok(r.broken[0] instanceof EventStreamFramingError);

  const whole = delta('cut');
  r = parse([frame('messageStart', {}), whole.subarray(0, 3), whole.subarray(3, whole.length - 5)]);
  assert.deepEqual(r.events.map((e) => e.event), ['messageStart']);
  assert.deepEqual(r.broken.map((e) => e.message), ['the event stream ended inside a message']);

  const len = Buffer.alloc(8);
  len.writeUInt32BE(3, 0);
  r = parse([len.subarray(0, 2), len.subarray(2)]);
  assert.deepEqual(r.broken.map((e) => e.message), ['invalid event-stream message length 3']);
});

test('R-USG-2 the completion text of relayed Bedrock event-stream frames', () => {
  const bedrock = getProtocol('bedrock-converse');
  const chunks = split(Buffer.concat([frame('messageStart', { role: 'assistant' }), delta('hello there, '), delta('a long answer')]), [7, 40, 41]);
  assert.equal(streamText(bedrock, chunks, true), 'hello there, a long answer');
});
