// OpenAI Embeddings <-> Vertex predict converters (R-PRV-10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openaiEmbeddingsToVertex, vertexPredictionsToOpenai } from '../../src/llm/converters/openai-embeddings-to-vertex-predict.js';

test('R-PRV-10 embeddings request: string, array of strings, arrays joined with a space', () => {
  assert.deepEqual(openaiEmbeddingsToVertex({ model: 'text-embedding-005', input: 'hello' }), { ok: true, body: { instances: [{ content: 'hello' }] } });
  const input = { input: ['a', ['b', 'c'], 'd'] };
  const copy = structuredClone(input);
  assert.deepEqual(openaiEmbeddingsToVertex(input), {
    ok: true,
    body: { instances: [{ content: 'a' }, { content: 'b c' }, { content: 'd' }] },
  });
  assert.deepEqual(input, copy, 'input unchanged');
  assert.deepEqual(openaiEmbeddingsToVertex({ input: [] }), { ok: true, body: { instances: [] } });
});

test('R-PRV-10 embeddings request errors: 400 JSON error bodies with the exact texts', () => {
  const e = (body: unknown) => openaiEmbeddingsToVertex(body);
  const reply = (msg: string) => ({ ok: false, reply: { status: 400, kind: 'json', body: { error_msg: msg } } });
  assert.deepEqual(e({}), reply('`input` is required for embeddings'));
  assert.deepEqual(e({ input: false }), reply('`input` is required for embeddings'));
  assert.deepEqual(e({ input: 5 }), reply('`input` must be string or array'));
  assert.deepEqual(e({ input: null }), reply('`input` must be string or array'));
  assert.deepEqual(e({ input: { a: 1 } }), reply('`input` must be string or array'));
  assert.deepEqual(e({ input: ['ok', 7] }), reply('unsupported input type at index 2'));
  assert.deepEqual(e({ input: [{ text: 'x' }] }), reply('unsupported input type at index 1'));
  assert.deepEqual(e({ input: ['a', 'b', [{}]] }), reply('unsupported input type at index 3'));
});

test('R-PRV-10 predictions response converted to an OpenAI embeddings list with summed token counts', () => {
  const res = {
    predictions: [
      { embeddings: { values: [0.1, 0.2], statistics: { token_count: 3, truncated: false } } },
      { embeddings: { values: [0.3], statistics: { token_count: 4 } } },
      { embeddings: { values: [] } },
    ],
    metadata: { billableCharacterCount: 10 },
  };
  assert.deepEqual(vertexPredictionsToOpenai(res, 'text-embedding-005'), {
    ok: true,
    body: {
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.1, 0.2] },
        { object: 'embedding', index: 1, embedding: [0.3] },
        { object: 'embedding', index: 2, embedding: [] },
      ],
      model: 'text-embedding-005',
      usage: { prompt_tokens: 7, total_tokens: 7 },
    },
  });
  const unknown = vertexPredictionsToOpenai({ predictions: [] }, '');
  assert.deepEqual(unknown, { ok: true, body: { object: 'list', data: [], model: 'unknown', usage: { prompt_tokens: 0, total_tokens: 0 } } });
});

test('R-PRV-10 predictions response errors: 500 plain text with the exact texts', () => {
  const reply = (msg: string) => ({ ok: false, reply: { status: 500, kind: 'text', body: msg } });
  assert.deepEqual(vertexPredictionsToOpenai({}, 'm'), reply('vertex response missing predictions'));
  assert.deepEqual(vertexPredictionsToOpenai({ predictions: {} }, 'm'), reply('vertex response missing predictions'));
  assert.deepEqual(vertexPredictionsToOpenai('x', 'm'), reply('vertex response missing predictions'));
  assert.deepEqual(vertexPredictionsToOpenai({ predictions: [{ embeddings: { values: [1] } }, { embeddings: {} }] }, 'm'), reply('invalid embedding at index 2'));
  assert.deepEqual(vertexPredictionsToOpenai({ predictions: [{}] }, 'm'), reply('invalid embedding at index 1'));
  assert.deepEqual(vertexPredictionsToOpenai({ predictions: [1] }, 'm'), reply('invalid prediction at index 1'));
});
