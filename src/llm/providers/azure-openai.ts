import type { ProviderDef } from './types.js';

// Needs override.endpoint (R-PRV-3); the deployment is in the URL, so the
// body's `model` is removed (R-PRV-5). Embeddings are accepted (switchyard,
// R-PRV-5) and sent to the endpoint's path.
export const azureOpenai: ProviderDef = {
  name: 'azure-openai',
  paths: { 'openai-chat': '/completions', 'openai-embeddings': '/embeddings' },
  maxTokensField: { 'openai-chat': ['max_completion_tokens'] },
  removeModel: true,
};
