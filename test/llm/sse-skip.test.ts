// SseParser.canSkip (src/llm/sse.ts): skipping chunks that cannot hold a
// usage event never loses or corrupts an event (R-RSP-11, R-RSP-12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, type SseEvent } from '../../src/llm/sse.js';

const NEEDLE = Buffer.from('"usage"');
const STREAM = Buffer.from(
  'data: {"choices":[{"delta":{"content":"héllo ☃"}}],"usage":null}\n\n' +
  'data: {"choices":[{"delta":{"content":"x"}}],"usage" : null}\n\n' +
  'data: {"choices":[{"delta":{"content":"wörld"}}]}\r\n\r\n' +
  ': comment\n\n' +
  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}\n\n' +
  'data: [DONE]\n\n',
);

function usageEvents(chunks: Buffer[], skip: boolean): { usage: string[]; pushed: number } {
  const usage: string[] = [];
  // the events usageFromEvent takes usage from: a non-null `usage` member
  const p = new SseParser((e: SseEvent) => {
    let j: { usage?: unknown } | undefined;
    try { j = JSON.parse(e.data); } catch { j = undefined; }
    if (j && j.usage != null) usage.push(e.data);
  });
  let pushed = 0;
  for (const c of chunks) {
    if (skip && p.canSkip(c, NEEDLE)) continue;
    pushed++;
    p.push(c);
  }
  return { usage, pushed };
}

test('R-RSP-12: with canSkip, the usage event is found at every split into two and three chunks', () => {
  const reference = usageEvents([STREAM], false).usage;
  assert.equal(reference.length, 1);
  for (let i = 1; i < STREAM.length; i++) {
    assert.deepEqual(usageEvents([STREAM.subarray(0, i), STREAM.subarray(i)], true).usage, reference, `split at ${i}`);
    for (let j = i + 1; j < STREAM.length; j += 7) {
      assert.deepEqual(usageEvents([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)], true).usage, reference, `split at ${i}, ${j}`);
    }
  }
});

test('R-RSP-11: whole events without usage are skipped; a partial event or character is never skipped', () => {
  const events = STREAM.toString().split(/(?<=\n\n)/).map((s) => Buffer.from(s));
  const r = usageEvents(events, true);
  assert.equal(r.usage.length, 1);
  assert.ok(r.pushed < events.length, 'some whole events were skipped');
  const p = new SseParser(() => {});
  p.push(Buffer.from('data: {"a":"\xe2'.slice(0, 10)));
  assert.equal(p.canSkip(Buffer.from('x"}\n\n'), NEEDLE), false, 'a partial event is pending');
  const q = new SseParser(() => {});
  q.push(Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0x78, 0x0a, 0x0a, 0xe2, 0x98]));
  assert.equal(q.canSkip(Buffer.from([0x83, 0x0a, 0x0a]), NEEDLE), false, 'a partial character is pending');
});

test('R-RSP-12: "usage":null members are skippable, any other usage value is not', () => {
  const p = new SseParser(() => {});
  assert.equal(p.canSkip(Buffer.from('data: {"usage":null}\n\n'), NEEDLE), true);
  assert.equal(p.canSkip(Buffer.from('data: {"usage" :\tnull}\n\ndata: {"a":1}\n\n'), NEEDLE), true);
  assert.equal(p.canSkip(Buffer.from('data: {"usage":null}\n\ndata: {"usage":{"total_tokens":3}}\n\n'), NEEDLE), false);
  // a second occurrence right after the first null, and one in the last bytes
  assert.equal(p.canSkip(Buffer.from('data: {"usage":null,"usage":{}}\n\n'), NEEDLE), false);
  assert.equal(p.canSkip(Buffer.from('data: {"usage":null}\n"usage"\n\n'), NEEDLE), false);
  assert.equal(p.canSkip(Buffer.from('data: {"usage":null}\n"usag\n\n'), NEEDLE), true);
  assert.equal(p.canSkip(Buffer.from('data: {"usage":nul'), NEEDLE), false);
});
