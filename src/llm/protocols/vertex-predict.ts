// Vertex AI predict (R-PRV-10): only sent upstream (converted from OpenAI
// Embeddings), never detected as a client protocol.
import type { LlmProtocol } from './types.js';
import { openaiEmbeddings } from './openai-embeddings.js';
import { openaiStreamErrorEvent } from './openai-error-event.js';
import { openaiErrorBody } from './error-bodies.js';

export const vertexPredict: LlmProtocol = {
  name: 'vertex-predict',
  isStreaming: () => false,
  prepareOutgoingRequest: (out) => out,
  // a predict answer's `usage` (if any) has the embeddings fields
  extractUsage: openaiEmbeddings.extractUsage,
  parseSseEvent: () => false,
  streamErrorEvent: openaiStreamErrorEvent,
  errorBody: openaiErrorBody,
};
