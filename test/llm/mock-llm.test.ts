import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockLlm } from '../helpers/mock-llm.js';

test('mock-llm: defaults, recording, programmed SSE with split writes, drop', async (t) => {
  const mock = await startMockLlm();
  t.after(() => mock.close());
  let r = await fetch(mock.url + '/v1/chat/completions?x=1', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: JSON.stringify({ model: 'gpt-4', messages: [] }) });
  assert.equal(r.status, 200);
  const j: any = await r.json();
  assert.equal(j.model, 'gpt-4');
  assert.equal(j.usage.total_tokens, 31);
  assert.equal(mock.requests[0]!.query.x, '1');
  assert.equal(mock.requests[0]!.headers.authorization, 'Bearer k');
  assert.equal(mock.requests[0]!.body.model, 'gpt-4');
  mock.replyOnce({ chunks: ['data: {"a"', ':1}\n\ndata: [DONE]\n\n'] });
  r = await fetch(mock.url + '/x', { method: 'POST', body: '{}' });
  assert.equal(r.headers.get('content-type'), 'text/event-stream');
  assert.equal(await r.text(), 'data: {"a":1}\n\ndata: [DONE]\n\n');
  mock.replyOnce({ drop: true });
  await assert.rejects(fetch(mock.url + '/x', { method: 'POST', body: '{}' }));
  mock.reply({ status: 429, json: { error: 'rate' } });
  r = await fetch(mock.url + '/x', { method: 'POST', body: '{}' });
  assert.equal(r.status, 429);
  assert.equal(mock.count('/x'), 3);
});
