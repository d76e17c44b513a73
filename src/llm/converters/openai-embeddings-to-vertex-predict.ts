// OpenAI Embeddings (client protocol) <-> Vertex AI predict (R-PRV-10).
// Pure functions: the inputs are not modified.
import type { Converted, Converter } from './types.js';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** request: `{input}` → `{"instances":[{"content":"<text>"},...]}`; errors are 400 JSON error bodies */
export function openaiEmbeddingsToVertex(body: any): Converted {
  const fail = (msg: string): Converted => ({ ok: false, reply: { status: 400, kind: 'json', body: { error_msg: msg } } });
  const input = isObj(body) ? body.input : undefined;
  if (input === undefined || input === false) return fail('`input` is required for embeddings');
  const texts: string[] = [];
  if (typeof input === 'string') {
    texts.push(input);
  } else if (Array.isArray(input)) {
    for (let i = 0; i < input.length; i++) {
      const v = input[i];
      if (typeof v === 'string') texts.push(v);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) texts.push(v.join(' '));
      else return fail(`unsupported input type at index ${i + 1}`);
    }
  } else {
    return fail('`input` must be string or array');
  }
  return { ok: true, body: { instances: texts.map((content) => ({ content })) } };
}

/** response: Vertex predictions → OpenAI embeddings list; errors are 500 plain text */
export function vertexPredictionsToOpenai(body: any, model: string): Converted {
  const fail = (msg: string): Converted => ({ ok: false, reply: { status: 500, kind: 'text', body: msg } });
  if (!isObj(body) || !Array.isArray(body.predictions)) return fail('vertex response missing predictions');
  const data: Obj[] = [];
  let tokens = 0;
  for (let i = 0; i < body.predictions.length; i++) {
    const pred = body.predictions[i];
    if (!isObj(pred)) return fail(`invalid prediction at index ${i + 1}`);
    const emb = isObj(pred.embeddings) ? pred.embeddings : {};
    if (!Array.isArray(emb.values)) return fail(`invalid embedding at index ${i + 1}`);
    if (isObj(emb.statistics) && typeof emb.statistics.token_count === 'number') tokens += emb.statistics.token_count;
    data.push({ object: 'embedding', index: i, embedding: emb.values });
  }
  return {
    ok: true,
    body: {
      object: 'list',
      data,
      model: model || 'unknown',
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

/** registered as ('openai-embeddings', 'vertex-predict') in converters/index.ts */
export const openaiEmbeddingsToVertexPredict: Converter = {
  from: 'openai-embeddings',
  to: 'vertex-predict',
  request: openaiEmbeddingsToVertex,
  response: vertexPredictionsToOpenai,
  // the converted answer's usage is read with the client protocol's rules
  usageFromClientBody: true,
};
