// Issue 16 item 4: the bounded soak of npm test. Half a minute of the same
// mixed traffic as `npm run soak` (non-streamed requests open loop, concurrent
// streams, an Admin API write every second, health flaps of the second
// instance): no client may see a failed request, stream or write, and the
// gateway's checker must report the flaps. Memory and handle growth are judged
// by the long run only (figures in docs/reliability.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../../scripts/soak.js';

test('R-GEN-10 R-FB-3 soak (bounded): mixed traffic, config writes and health flaps without a failure a client sees', async (t) => {
  const r = await runSoak({
    minutes: 0.5, warmupSeconds: 6, rate: 100, cpu: 0.7, streams: 20,
    writeEveryMs: 1000, flapEveryMs: 6000, flapDownMs: 3000, sampleEveryMs: 1000, pin: false,
  });
  t.diagnostic(`${r.requests} requests, ${r.streams} streams, ${r.writes} writes, ${r.flaps} flaps (${r.flapsSeen} seen), RSS ${r.rss.min}–${r.rss.max} MB, ${r.shed} shed`);
  assert.deepEqual(r.failures, []);
  assert.equal(r.judged, false, 'half a minute is too short to judge memory');
  assert.ok(r.requests >= 2000, `non-streamed requests were sent (${r.requests})`);
  assert.ok(r.streams >= 100, `streams completed (${r.streams})`);
  assert.ok(r.writes >= 20, `Admin API writes were made (${r.writes})`);
  assert.ok(r.flaps >= 4 && r.flapsSeen >= r.flaps - 1, `flaps were injected and seen (${r.flaps}, ${r.flapsSeen})`);
  assert.ok(r.samples.length >= 15, `samples were taken after the warm-up (${r.samples.length})`);
  assert.ok(r.samples.every((s) => s.rssMb > 20 && s.handles > 0 && s.fds > 0), 'each sample read the gateway');
});
