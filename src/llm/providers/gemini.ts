import type { ProviderDef } from './types.js';

export const gemini: ProviderDef = {
  name: 'gemini',
  host: 'generativelanguage.googleapis.com',
  paths: { 'openai-chat': '/v1beta/openai/chat/completions' },
};
