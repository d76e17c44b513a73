// OpenAI Embeddings (R-REQ-2, R-PRV-10): not streamed.
import type { LlmProtocol } from './types.js';
import { bodyUsage, num } from '../usage.js';
import { openaiStreamErrorEvent } from './openai-error-event.js';
import { openaiErrorBody } from './error-bodies.js';

export const openaiEmbeddings: LlmProtocol = {
  name: 'openai-embeddings',
  matches: (_path, b) => 'input' in b,
  isStreaming: (b) => b.stream === true,
  prepareOutgoingRequest: (out) => out,
  extractUsage(body, acc) {
    const u = bodyUsage(body, acc);
    if (u) {
      acc.prompt = num(u.prompt_tokens);
      acc.completion = 0;
      acc.total = u.total_tokens !== undefined ? num(u.total_tokens) : acc.prompt;
    }
  },
  parseSseEvent: () => false,
  noMaxTokens: true,
  streamErrorEvent: openaiStreamErrorEvent,
  pathHint: (path) => path.endsWith('/embeddings'),
  errorBody: openaiErrorBody,
};
