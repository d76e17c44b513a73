import type { ProviderDef } from './types.js';

export const openai: ProviderDef = {
  name: 'openai',
  host: 'api.openai.com',
  paths: { 'openai-chat': '/v1/chat/completions', 'openai-responses': '/v1/responses', 'openai-embeddings': '/v1/embeddings' },
  // R-CAP-4: OpenAI's current names (max_tokens is deprecated for chat)
  maxTokensField: { 'openai-chat': ['max_completion_tokens'], 'openai-responses': ['max_output_tokens'] },
};
