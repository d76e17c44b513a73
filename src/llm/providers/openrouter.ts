import type { ProviderDef } from './types.js';

export const openrouter: ProviderDef = {
  name: 'openrouter',
  host: 'openrouter.ai',
  paths: { 'openai-chat': '/api/v1/chat/completions' },
};
