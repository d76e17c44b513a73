// R-USG-1 stripper units, R-USG-3 usage details (OpenAI and Anthropic), R-USG-4 cost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageChunkStripper, clientAskedUsage } from '../../src/llm/usage-strip.js';
import { cacheCreationTokens, cacheReadTokens, endUserId, reasoningTokens, toolCount } from '../../src/core/usage-details.js';
import { usageCost, llmCostText } from '../../src/core/llm-cost.js';
import { compilePricing } from '../../src/llm/pricing.js';
import { bodyText, streamText } from '../../src/llm/estimate.js';
import type { LlmState } from '../../src/core/types.js';
import { getProtocol } from '../../src/llm/protocols/index.js';

const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const content = ev({ choices: [{ index: 0, delta: { content: 'hi' } }] });
const usageOnly = ev({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
const nullUsage = ev({ choices: [{ index: 0, delta: { content: 'x' } }], usage: null });

test('R-USG-1 stripper: usage-only chunk removed at every split position; other chunks byte-identical', () => {
  const all = content + nullUsage + usageOnly + 'data: [DONE]\n\n';
  const want = content + nullUsage + 'data: [DONE]\n\n';
  for (let i = 1; i < all.length; i++) {
    const s = new UsageChunkStripper();
    const out: Buffer[] = [];
    for (const part of [all.slice(0, i), all.slice(i)]) {
      const o = s.push(Buffer.from(part));
      if (o) out.push(o);
    }
    const rest = s.end();
    if (rest) out.push(rest);
    assert.equal(Buffer.concat(out).toString(), want, `split at ${i}`);
    assert.equal(s.stripped, true);
  }
  // the fast path hands the same buffer on
  const s = new UsageChunkStripper();
  const b = Buffer.from(content);
  assert.equal(s.push(b), b);
  // CRLF framing and a chunk with usage next to choices (not usage-only) kept
  const crlf = `data: ${JSON.stringify({ choices: [], usage: { total_tokens: 3 } })}\r\n\r\n`;
  const withChoices = ev({ choices: [{ index: 0, delta: {} }], usage: { total_tokens: 3 } });
  const s2 = new UsageChunkStripper();
  assert.equal(s2.push(Buffer.from(crlf + withChoices))!.toString(), withChoices);
  assert.equal(clientAskedUsage({ stream_options: { include_usage: true } }), true);
  assert.equal(clientAskedUsage({ stream: true }), false);
});

test('R-USG-3 usage details: OpenAI cached and reasoning tokens, Anthropic cache read/creation; tool count and end user', () => {
  const openai = { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150, prompt_tokens_details: { cached_tokens: 40 }, completion_tokens_details: { reasoning_tokens: 20 } };
  assert.equal(cacheReadTokens(openai), 40);
  assert.equal(reasoningTokens(openai), 20);
  assert.equal(cacheCreationTokens(openai), 0);
  const anthropic = { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 300, cache_creation_input_tokens: 7 };
  assert.equal(cacheReadTokens(anthropic), 300);
  assert.equal(cacheCreationTokens(anthropic), 7);
  const responses = { input_tokens: 9, output_tokens: 4, input_tokens_details: { cached_tokens: 3 }, output_tokens_details: { reasoning_tokens: 2 } };
  assert.equal(cacheReadTokens(responses), 3);
  assert.equal(reasoningTokens(responses), 2);
  assert.equal(toolCount({ tools: [{}, {}] }), 2);
  assert.equal(toolCount({}), 0);
  assert.equal(endUserId({ user: 'u-1' }), 'u-1');
  assert.equal(endUserId({ metadata: { user_id: 'a-2' } }), 'a-2');
});

test('R-USG-2 tool calls are part of the relayed text (OpenAI stream and body, Anthropic body)', () => {
  const chunks = [Buffer.from(ev({ choices: [{ delta: { tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":' } }] } }] })
    + ev({ choices: [{ delta: { tool_calls: [{ function: { arguments: '"Paris"}' } }] } }] }))];
  assert.equal(streamText(getProtocol('openai-chat'), chunks), 'get_weather{"city":"Paris"}');
  assert.equal(bodyText(getProtocol('openai-chat'), Buffer.from(JSON.stringify({ choices: [{ message: { content: null, tool_calls: [{ function: { name: 'f', arguments: '{}' } }] } }] }))), 'f{}');
  assert.equal(bodyText(getProtocol('anthropic-messages'), Buffer.from(JSON.stringify({ content: [{ type: 'text', text: 'ok ' }, { type: 'tool_use', name: 'f', input: { a: 1 } }] }))), 'ok f{"a":1}');
});

test('R-USG-4 cost from the usage and the prices per million tokens', () => {
  const pr = compilePricing({ input: 2.5, output: 10, cache_read: 1.25 })!;
  assert.equal(pr.currency, 'USD');
  // OpenAI: 100 prompt of which 40 cached, 50 completion
  const openai = { prompt_tokens: 100, prompt_tokens_details: { cached_tokens: 40 } };
  assert.equal(usageCost(pr, 100, 50, openai), (60 * 2.5 + 40 * 1.25 + 50 * 10) / 1e6);
  // Anthropic: input excludes the cache; creation at the input price
  const anthropic = { input_tokens: 10, cache_read_input_tokens: 300, cache_creation_input_tokens: 7 };
  assert.equal(usageCost(pr, 10, 5, anthropic), (17 * 2.5 + 300 * 1.25 + 5 * 10) / 1e6);
  // cache_read defaults to the input price
  assert.equal(compilePricing({ input: 3, output: 4, currency: 'EUR' })!.cacheRead, 3);
  const llm = { pricing: compilePricing({ input: 1, output: 2 }), promptTokens: 1000, completionTokens: 500, rawUsage: { prompt_tokens: 1000 } } as unknown as LlmState;
  assert.equal(llmCostText(llm), '0.002');
  assert.equal(llmCostText({ promptTokens: 1, completionTokens: 1 } as LlmState), '');
});
