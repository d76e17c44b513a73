// The ring of the last requests (R-UI-1): preallocated slots, newest first,
// values read from the kept references only when a snapshot is taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { RecentRequests, type RecordableRequest } from '../../src/observability/recent-requests.js';
import type { LlmState, UpstreamAttempt } from '../../src/core/types.js';

function req(uri: string, extra: Partial<RecordableRequest> = {}): RecordableRequest {
  return {
    startEpochMs: Date.now(),
    startTime: performance.now() - 5,
    method: 'POST',
    uri,
    status: 200,
    routeId: 'r1',
    consumer: { username: 'alice' },
    llmIfAny: undefined,
    attemptsIfAny: undefined,
    ...extra,
  };
}

test('R-UI-1 ring: newest first, wraps at capacity, seq counts every request', () => {
  const ring = new RecentRequests(3);
  for (let i = 1; i <= 5; i++) ring.record(req(`/r${i}`));
  const snap = ring.snapshot();
  assert.deepEqual(snap.map((r) => r.uri), ['/r5', '/r4', '/r3']);
  assert.deepEqual(snap.map((r) => r.seq), [5, 4, 3]);
  assert.equal(ring.total, 5);
  assert.equal(snap[0]!.consumer, 'alice');
  assert.equal(snap[0]!.route_id, 'r1');
  assert.ok(snap[0]!.latency_ms >= 5, `latency ${snap[0]!.latency_ms}`);
  assert.deepEqual(ring.snapshot(1).map((r) => r.uri), ['/r5']);
});

test('R-UI-1 ring: usage is read when the snapshot is taken, not when the request is recorded', () => {
  const ring = new RecentRequests(4);
  let reads = 0;
  const llm = {
    requestType: 'ai_stream', requestModel: 'cheap', model: 'gpt-4o', instanceName: 'inst-a', provider: 'openai',
    get promptTokens() { reads++; return 12; },
    completionTokens: 30, totalTokens: 42, timeToFirstTokenMs: 17,
    logSummaries: false, logPayloads: false,
  } as unknown as LlmState;
  ring.record(req('/chat', { llmIfAny: llm }));
  assert.equal(reads, 0, 'record() must not read the usage');
  const [r] = ring.snapshot();
  assert.equal(reads, 1);
  assert.equal(r!.instance, 'inst-a');
  assert.equal(r!.model, 'gpt-4o');
  assert.equal(r!.request_model, 'cheap');
  assert.equal(r!.stream, true);
  assert.equal(r!.total_tokens, 42);
  assert.equal(r!.ttft_ms, 17);
});

test('R-UI-1 ring: attempts are the R-RTY-4 trail when the engine keeps one, else the upstream attempts', () => {
  const ring = new RecentRequests(4);
  const upstream: UpstreamAttempt[] = [{ addr: '127.0.0.1:1', status: 500, time: 0.012 }, { addr: '127.0.0.1:2', status: 200, time: 0.2 }];
  ring.record(req('/plain', { attemptsIfAny: upstream }));
  const llm = { requestType: 'ai_chat', requestModel: '', model: 'm', promptTokens: 0, completionTokens: 0, totalTokens: 0, timeToFirstTokenMs: 0,
    attempts: [{ instance: 'openai-a', outcome: '429', ms: 12 }, { instance: 'deepseek', outcome: 'ok', ms: 230 }] } as unknown as LlmState;
  ring.record(req('/ai', { llmIfAny: llm, attemptsIfAny: upstream }));
  const [ai, plain] = ring.snapshot();
  assert.deepEqual(ai!.attempts, [{ instance: 'openai-a', outcome: '429', ms: 12 }, { instance: 'deepseek', outcome: 'ok', ms: 230 }]);
  assert.equal(ai!.ttft_ms, null);
  assert.deepEqual(plain!.attempts, [{ addr: '127.0.0.1:1', outcome: '500', ms: 12 }, { addr: '127.0.0.1:2', outcome: 'ok', ms: 200 }]);
  // a request that used no LLM shows no instance or tokens
  assert.equal(plain!.instance, null);
  assert.equal(plain!.total_tokens, 0);
});

test('R-UI-1 ring: a capacity below 1 is refused', () => {
  assert.throws(() => new RecentRequests(0), /capacity must be at least 1/);
});
