// R-CAP-4: override.llm_options.max_tokens under each provider's field name,
// override.request_body.<protocol> merged with APISIX's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBody } from '../../src/llm/request.js';
import { compileOverride, deepMerge } from '../../src/llm/body-override.js';
import { getProvider } from '../../src/llm/providers/index.js';
import { getProtocol } from '../../src/llm/protocols/index.js';

const chat = getProtocol('openai-chat');

test('R-CAP-4: deepMerge merges objects recursively; a conflict keeps the client value unless forced', () => {
  const client = { temperature: 0.7, metadata: { a: 1, nested: { x: 1 } }, stop: ['a'] };
  const patch = { temperature: 0.1, metadata: { b: 2, nested: { y: 2 } }, stop: ['b'], top_p: 0.5 };
  assert.deepEqual(deepMerge(client, patch, false), { temperature: 0.7, metadata: { a: 1, b: 2, nested: { x: 1, y: 2 } }, stop: ['a'], top_p: 0.5 });
  assert.deepEqual(deepMerge(client, patch, true), { temperature: 0.1, metadata: { a: 1, b: 2, nested: { x: 1, y: 2 } }, stop: ['b'], top_p: 0.5 });
  // a type mismatch is a conflict too; the client body is never modified
  assert.deepEqual(deepMerge({ metadata: 'text' }, { metadata: { b: 2 } }, false), { metadata: 'text' });
  assert.deepEqual(client, { temperature: 0.7, metadata: { a: 1, nested: { x: 1 } }, stop: ['a'] });
});

test('R-CAP-4: llm_options.max_tokens goes under the provider\'s field name for the target protocol', () => {
  const ov = compileOverride({ llm_options: { max_tokens: 64 } });
  const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  const as = (provider: string, proto: string) => buildBody(body, { provider: getProvider(provider), bodyOverride: ov }, getProtocol(proto as any));
  assert.equal(as('openai', 'openai-chat').max_completion_tokens, 64);
  assert.equal(as('openai', 'openai-chat').max_tokens, undefined);
  assert.equal(as('azure-openai', 'openai-chat').max_completion_tokens, 64);
  assert.equal(as('deepseek', 'openai-chat').max_tokens, 64);
  assert.equal(as('anthropic', 'anthropic-messages').max_tokens, 64);
  assert.deepEqual(as('vertex-ai', 'vertex-predict').generationConfig, { maxOutputTokens: 64 });
  assert.equal(as('openai', 'openai-embeddings').max_tokens, undefined, 'embeddings have no completion bound');
  // the client's own bound wins unless forced (under either name)
  assert.equal(buildBody({ ...body, max_tokens: 10 }, { provider: getProvider('openai'), bodyOverride: ov }, chat).max_tokens, 10);
  const forced = buildBody({ ...body, max_tokens: 10 }, { provider: getProvider('openai'), bodyOverride: compileOverride({ llm_options: { max_tokens: 64 }, request_body_force_override: true }) }, chat);
  assert.equal(forced.max_completion_tokens, 64);
  assert.equal(forced.max_tokens, undefined, 'never both names');
  assert.deepEqual(body, { model: 'm', messages: [{ role: 'user', content: 'hi' }] }, 'the client body is not modified');
});

test('R-CAP-4: request_body applies only when the target protocol matches', () => {
  const ov = compileOverride({ request_body: { 'openai-chat': { temperature: 0.2 }, 'anthropic-messages': { top_k: 5 } } });
  const body = { messages: [{ role: 'user', content: 'hi' }] };
  const out = buildBody(body, { provider: getProvider('openai'), bodyOverride: ov }, chat);
  assert.equal(out.temperature, 0.2);
  assert.equal(out.top_k, undefined);
  assert.equal(compileOverride({ endpoint: 'http://x' }), undefined, 'nothing to apply: no per-request work');
});
