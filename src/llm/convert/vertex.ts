// STUB (owner: converters helper): openai-embeddings <-> vertex-predict (R-PRV-10).
import type { Converted } from './anthropic.js';

export function openaiEmbeddingsToVertex(body: any): Converted {
  return { ok: true, body };
}

export function vertexPredictionsToOpenai(body: any, model: string): Converted {
  void model;
  return { ok: true, body };
}
