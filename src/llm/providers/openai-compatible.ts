import type { ProviderDef } from './types.js';

// Needs override.endpoint (R-PRV-3).
export const openaiCompatible: ProviderDef = {
  name: 'openai-compatible',
  paths: { 'openai-chat': '/v1/chat/completions', 'openai-responses': '/v1/responses', 'openai-embeddings': '/v1/embeddings' },
};
