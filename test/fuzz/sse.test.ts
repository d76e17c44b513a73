// Property-based fuzzing of the SSE parser (issue 16, R-RSP-11): events from
// any split of the bytes equal a whole-buffer reference parse, garbage never
// throws, canSkip never skips a chunk that carried a wanted event, and a
// never-ending event keeps memory bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SseParser, MAX_PENDING, type SseEvent } from '../../src/llm/sse.js';
import { check } from './params.js';

/**
 * Reference parse of a whole stream, written from the WHATWG event-stream
 * rules as switchyard applies them: lines end at LF (a CR before it is
 * dropped; a lone CR is not a line end), a blank line ends an event, a
 * `:` line is a comment, one space after the colon is dropped, `data`
 * lines are joined with LF, an event with neither data nor event name is not
 * dispatched, the trailing event without a blank line is dropped.
 */
function reference(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  const lines = text.split('\n');
  lines.pop(); // the part after the last LF is not a complete line
  let event = 'message';
  let data: string | undefined;
  let id: string | undefined;
  let retry: string | undefined;
  for (let line of lines) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') {
      if (!(data === undefined && event === 'message')) out.push({ event, data: data ?? '', id, retry });
      event = 'message';
      data = id = retry = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'id') id = value;
    else if (field === 'retry') retry = value;
  }
  return out;
}

// --- generators -----------------------------------------------------------

const fieldName = fc.constantFrom('data', 'event', 'id', 'retry', 'data', 'data', 'x-other', '', 'Data');
const valueText = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ':', '{', '}', '"', 'é', '€', '😀', '\r', '\u0000', 'usage', 'null'), maxLength: 24 });
const eol = fc.constantFrom('\n', '\r\n', '\n', '\r\n', '\r');
const line = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fieldName, fc.constantFrom(':', ': ', ':  ', ''), valueText).map(([f, c, v]) => f + c + v) },
  { weight: 1, arbitrary: valueText.map((v) => ':' + v) },
);
const eventText = fc.tuple(fc.array(fc.tuple(line, eol), { maxLength: 6 }), eol).map(([ls, end]) => ls.map(([l, e]) => l + e).join('') + end);
/** a stream: events, sometimes with raw garbage bytes between them */
const streamBytes = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: eventText.map((s) => Buffer.from(s, 'utf8')) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)) },
    ),
    { maxLength: 20 },
  )
  .map((parts) => Buffer.concat(parts));

/** cut positions inside the buffer → chunks */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

function parseChunks(chunks: Buffer[]): SseEvent[] {
  const got: SseEvent[] = [];
  const p = new SseParser((e) => got.push(e));
  for (const c of chunks) if (c.length > 0) p.push(c);
  p.end();
  return got;
}

test('issue 16 R-RSP-11 fuzz: events from any split of any stream equal the whole-buffer reference parse', async (t) => {
  await check('sse', 'split-equals-reference', 400, fc.property(streamBytes, fc.array(fc.nat(), { maxLength: 12 }), (buf, cuts) => {
    const want = reference(buf.toString('utf8'));
    assert.deepEqual(parseChunks([buf]), want, 'whole buffer');
    assert.deepEqual(parseChunks(split(buf, cuts)), want, 'split');
  }), (m) => t.diagnostic(m));
});

test('issue 16 R-RSP-11 fuzz: byte-by-byte pushes equal the reference parse', async (t) => {
  await check('sse', 'bytewise-equals-reference', 150, fc.property(streamBytes, (buf) => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i++) chunks.push(buf.subarray(i, i + 1));
    assert.deepEqual(parseChunks(chunks), reference(buf.toString('utf8')));
  }), (m) => t.diagnostic(m));
});

const NEEDLE = Buffer.from('"usage"');
const usageEvent = fc.constantFrom(
  'data: {"choices":[],"usage":null}\n\n',
  'data: {"choices":[],"usage" : null}\r\n\r\n',
  'data: {"usage":{"prompt_tokens":1}}\n\n',
  'data: {"x":1,"usage":\n\n',
  'data: {"usage"\n\n',
);

test('issue 16 R-RSP-11 fuzz: canSkip never skips a chunk that carries a usage member that is not null', async (t) => {
  const stream = fc.array(fc.oneof(eventText.map((s) => Buffer.from(s)), usageEvent.map((s) => Buffer.from(s))), { maxLength: 12 }).map((p) => Buffer.concat(p));
  await check('sse', 'canSkip-safe', 400, fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (buf, cuts) => {
    const all: SseEvent[] = [];
    const kept: SseEvent[] = [];
    const full = new SseParser((e) => all.push(e));
    const skipping = new SseParser((e) => kept.push(e));
    for (const c of split(buf, cuts)) {
      if (c.length === 0) continue;
      const before = all.length;
      const skip = skipping.canSkip(c, NEEDLE);
      full.push(c);
      if (skip) {
        for (const e of all.slice(before)) {
          assert.ok(!/"usage"\s*:\s*(?!\s*null)/.test(e.data) && !/"usage"\s*$/.test(e.data), `skipped a chunk whose event carries usage: ${JSON.stringify(e.data)}`);
        }
        // the skipped events are the only difference
        all.splice(before);
      } else {
        skipping.push(c);
      }
      assert.deepEqual(kept, all);
    }
  }), (m) => t.diagnostic(m));
});

test('issue 16 R-RSP-11 fuzz: a never-ending event keeps the pending buffer bounded; parsing resumes after its end', async (t) => {
  const pendingOf = (p: SseParser) => (p as unknown as { buf: string }).buf.length;
  const body = fc.constantFrom('x', 'yz', 'data: more\n', '€', ':c\n');
  await check('sse', 'never-ending-event-bounded', 20, fc.property(fc.integer({ min: 1024, max: 65536 }), body, fc.integer({ min: 2, max: 4 }), (chunkSize, unit, mib) => {
    const got: SseEvent[] = [];
    const p = new SseParser((e) => got.push(e));
    const text = unit.repeat(Math.ceil(chunkSize / unit.length));
    const chunk = Buffer.from(text);
    p.push('data: start\n');
    let pushed = 0; // characters: the bound is on decoded text
    while (pushed < mib * MAX_PENDING) {
      p.push(chunk);
      pushed += text.length;
      assert.ok(pendingOf(p) <= MAX_PENDING + chunk.length, `pending ${pendingOf(p)} after ${pushed} bytes`);
    }
    p.push('\n\ndata: ok\n\n');
    assert.deepEqual(got.map((e) => e.data), ['ok'], 'nothing of the discarded event is dispatched; the next event is');
  }), (m) => t.diagnostic(m), 2000);
});
