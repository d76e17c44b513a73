import type { ProviderDef } from './types.js';

// R-PRV-1 / R-PRV-4: host and paths from provider_conf; embeddings are
// converted to the predict API (R-PRV-10).
export const vertexAi: ProviderDef = {
  name: 'vertex-ai',
  host: (pc) => (pc?.region ? `${pc.region}-aiplatform.googleapis.com` : undefined),
  paths: {
    'openai-chat': (pc) => `/v1beta1/projects/${pc?.project_id}/locations/${pc?.region}/endpoints/openapi/chat/completions`,
    'vertex-predict': (pc, model) => `/v1/projects/${pc?.project_id}/locations/${pc?.region}/publishers/google/models/${model}:predict`,
  },
  convert: { 'openai-embeddings': 'vertex-predict' },
};
