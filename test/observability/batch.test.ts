// Batch sink units (R-LOG-4, R-GEN-18): size / inactivity / age triggers,
// retries, bounded buffer with a hanging collector, flush on shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BatchProcessor, LogDrops } from '../../src/observability/batch.js';
import { GatewayScope } from '../../src/core/lifecycle.js';
import { compileHttpLogger, createHttpSender } from '../../src/plugins/http-logger/index.js';
import { memLog, sleep, until } from '../helpers/wait.js';

test('R-LOG-4: a batch is sent as soon as the queue holds batch_max_size entries', async () => {
  const sent: number[][] = [];
  const b = new BatchProcessor<number>({
    batch_max_size: 3, inactive_timeout: 60, buffer_duration: 60, log: memLog(),
    send: async (e) => { sent.push(e); },
  });
  for (let i = 1; i <= 7; i++) b.push(i);
  await until(() => sent.length === 2);
  assert.deepEqual(sent, [[1, 2, 3], [4, 5, 6]]);
  await b.close();
  assert.deepEqual(sent, [[1, 2, 3], [4, 5, 6], [7]]);
});

test('R-LOG-4: inactive_timeout flushes after the last entry; buffer_duration bounds the age of the oldest', async () => {
  const sent: Array<{ at: number; e: number[] }> = [];
  const t0 = Date.now();
  const b = new BatchProcessor<number>({
    batch_max_size: 100, inactive_timeout: 0.15, buffer_duration: 60, log: memLog(),
    send: async (e) => { sent.push({ at: Date.now() - t0, e }); },
  });
  b.push(1);
  await sleep(50);
  b.push(2);
  await until(() => sent.length === 1);
  assert.deepEqual(sent[0]!.e, [1, 2]);
  assert.ok(sent[0]!.at >= 190, `sent at ${sent[0]!.at} ms, expected ≥ 150 ms after the last entry`);
  await b.close();

  // steady trickle faster than inactive_timeout: buffer_duration forces the flush
  const sent2: Array<{ at: number; e: number[] }> = [];
  const t1 = Date.now();
  const b2 = new BatchProcessor<number>({
    batch_max_size: 1000, inactive_timeout: 0.1, buffer_duration: 0.3, log: memLog(),
    send: async (e) => { sent2.push({ at: Date.now() - t1, e }); },
  });
  for (let i = 0; i < 10 && !sent2.length; i++) {
    b2.push(i);
    await sleep(60);
  }
  await until(() => sent2.length >= 1);
  assert.ok(sent2[0]!.at >= 290 && sent2[0]!.at < 600, `first flush at ${sent2[0]!.at} ms`);
  await b2.close();
});

test('R-LOG-4: a failed batch is retried after retry_delay up to max_retry_count, then dropped with an error line', async () => {
  const log = memLog();
  let calls = 0;
  const times: number[] = [];
  const t0 = Date.now();
  const b = new BatchProcessor<string>({
    name: 'http logger', batch_max_size: 1, retry_delay: 0.1, max_retry_count: 2, log,
    send: async () => { calls++; times.push(Date.now() - t0); throw new Error('connection refused'); },
  });
  b.push('x');
  await until(() => b.stats.failed === 1);
  assert.equal(calls, 3);
  assert.ok(times[1]! - times[0]! >= 90 && times[2]! - times[1]! >= 90, `retry times ${times}`);
  assert.equal(log.lines.filter((l) => l.includes('Batch Processor[http logger] failed to process entries: connection refused')).length, 3);
  assert.ok(log.lines.some((l) => l.includes('Batch Processor[http logger] exceeded the max_retry_count[2] dropping the entries')));

  // succeeds on the second attempt
  let n = 0;
  const got: string[][] = [];
  const b2 = new BatchProcessor<string>({
    batch_max_size: 1, retry_delay: 0, max_retry_count: 1, log: memLog(),
    send: async (e) => { if (n++ === 0) throw new Error('503'); got.push(e); },
  });
  b2.push('y');
  await until(() => got.length === 1);
  assert.deepEqual(got, [['y']]);
  await b.close();
  await b2.close();
});

test('R-LOG-4 R-LOG-5: a hanging collector blocks nobody; the buffer is bounded and drops are logged', async (t) => {
  const hung: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => { req.resume(); hung.push(res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const port = (server.address() as AddressInfo).port;
  const log = memLog();
  const conf = { uri: `http://127.0.0.1:${port}/log`, batch_max_size: 1, timeout: 1, max_retry_count: 0 };
  const c = compileHttpLogger(conf, log);
  // the http-logger's sender behind a processor with a small bound
  const bounded = new BatchProcessor<unknown>({
    name: 'http logger', batch_max_size: 1, log, maxBuffered: 20, maxConcurrent: 4,
    send: createHttpSender(conf, c.handle),
  });
  // push() is synchronous and never waits for the collector: all 200 return
  // in this turn, the first 20 queued, the rest dropped (no timing asserted:
  // performance is measured in the benchmark, not in unit tests)
  let accepted = 0;
  for (let i = 0; i < 200; i++) if (bounded.push({ i })) accepted++;
  assert.equal(accepted, 20);
  assert.ok(bounded.buffered <= 20);
  assert.equal(bounded.stats.dropped, 180);
  assert.ok(log.lines.some((l) => /Batch Processor\[http logger\] buffer full \(20 entries\): dropped \d+ entries/.test(l)), log.lines.join('\n'));
  // only maxConcurrent requests reach the hanging collector at once
  await until(() => hung.length === 4);
  await sleep(100);
  assert.equal(hung.length, 4);
  // after the collector timeout (1 s) the batches fail and are dropped, freeing the buffer
  await until(() => bounded.stats.failed >= 4, 4000);
  assert.ok(log.lines.some((l) => l.includes('failed to process entries')));
  await bounded.close();
  await c.close();
});

test('R-LOG-4 R-GEN-18: pending entries are flushed by the shutdown hooks of the gateway scope', async () => {
  const sent: number[][] = [];
  const scope = new GatewayScope();
  const b = new BatchProcessor<number>({
    batch_max_size: 100, inactive_timeout: 60, buffer_duration: 60, log: memLog(), scope,
    send: async (e) => { await sleep(20); sent.push(e); },
  });
  b.push(1);
  b.push(2);
  await sleep(20);
  assert.deepEqual(sent, []);
  await scope.shutdown();
  assert.deepEqual(sent, [[1, 2]]);
  assert.equal(b.push(3), false, 'a closed processor refuses entries');
});

test('R-LOG-4 R-GEN-10: a retired processor (configuration replaced) sends its queue now and late entries as they come', async () => {
  const sent: number[][] = [];
  const b = new BatchProcessor<number>({
    batch_max_size: 100, inactive_timeout: 60, buffer_duration: 60, log: memLog(),
    send: async (e) => { sent.push(e); },
  });
  b.push(1);
  b.push(2);
  b.retire();
  await until(() => sent.length === 1);
  assert.deepEqual(sent, [[1, 2]]);
  // an in-flight request of the old configuration finishes later
  b.push(3);
  b.push(4);
  await until(() => sent.length === 2);
  assert.deepEqual(sent[1], [3, 4]);
  await b.close();
});

test('R-LOG-4: failure lines are rate limited so a dead collector under load does not flood the error log', async () => {
  const log = memLog();
  const b = new BatchProcessor<number>({
    batch_max_size: 1, log, maxConcurrent: 50,
    send: async () => { throw new Error('ECONNREFUSED'); },
  });
  for (let i = 0; i < 50; i++) b.push(i);
  await until(() => b.stats.failed === 50);
  assert.ok(log.lines.length <= 11, `${log.lines.length} lines`);
  await b.close();
  assert.ok(log.lines.some((l) => /error lines suppressed/.test(l)), log.lines.join('\n'));
});

test('R-LOG-5 issue 11: drops are counted in the counter of the processor\'s gateway, not in a process-wide one', async () => {
  const mine = new LogDrops();
  const other = new LogDrops();
  const b = new BatchProcessor<number>({ name: 'http logger', batch_max_size: 1, maxBuffered: 1, log: memLog(), drops: mine, send: () => new Promise(() => {}) });
  b.push(1);
  b.push(2);
  b.push(3);
  assert.deepEqual([...mine.counts.values()], [{ logger: 'http logger', reason: 'buffer_full', n: 2 }]);
  assert.equal(other.counts.size, 0);
});
