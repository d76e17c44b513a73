import type { ProviderDef } from './types.js';

export const deepseek: ProviderDef = {
  name: 'deepseek',
  host: 'api.deepseek.com',
  paths: { 'openai-chat': '/chat/completions' },
};
