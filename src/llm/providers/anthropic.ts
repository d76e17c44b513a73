import type { ProviderDef } from './types.js';

// Anthropic serves the OpenAI-compatible chat API and its native Messages API
// (passed through unchanged, R-REQ-23).
export const anthropic: ProviderDef = {
  name: 'anthropic',
  host: 'api.anthropic.com',
  paths: { 'openai-chat': '/v1/chat/completions', 'anthropic-messages': '/v1/messages' },
};
