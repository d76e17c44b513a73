import type { ProviderDef } from './types.js';

export const aimlapi: ProviderDef = {
  name: 'aimlapi',
  host: 'api.aimlapi.com',
  paths: { 'openai-chat': '/chat/completions' },
};
