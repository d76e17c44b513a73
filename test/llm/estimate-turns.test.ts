// R-USG-2 with many streams cut at once: estimates run one per turn of the
// event loop, so I/O (here: a timer scheduled after them) is served between
// them instead of after all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayedText, applyRelayedEstimate } from '../../src/llm/estimate.js';
import { getProtocol } from '../../src/llm/protocols/index.js';
import { loadEncoding } from '../../src/llm/tokens.js';
import type { RequestContext } from '../../src/core/types.js';

test('R-USG-2 a burst of estimates yields to the event loop between estimates', async () => {
  await loadEncoding('o200k_base');
  const proto = getProtocol('openai-chat');
  const chunk = Buffer.from(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'An AI gateway gives one endpoint in front of many providers.' } }] })}\n\n`);
  const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Summarize the benefits of an AI gateway.' }] };
  const N = 50;
  let done = 0;
  const ctxs = Array.from({ length: N }, () => ({ llm: { model: 'gpt-4o' }, log: { error: () => {} } }) as unknown as RequestContext);
  const all = Promise.all(ctxs.map((ctx) => {
    const relayed = new RelayedText(proto);
    relayed.push(chunk);
    return applyRelayedEstimate(ctx, body, relayed).then(() => { done++; });
  }));
  const seenByTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(done), 0));
  await all;
  assert.equal(done, N);
  assert.ok(seenByTimer < N, `a timer due during the burst ran after ${seenByTimer} of ${N} estimates, not after all`);
  for (const ctx of ctxs) {
    assert.equal(ctx.llm.usageSource, 'estimated');
    assert.ok(ctx.llm.promptTokens > 0 && ctx.llm.completionTokens > 0);
  }
});
