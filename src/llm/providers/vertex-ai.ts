import type { ProviderDef } from './types.js';

// R-PRV-1 / R-PRV-4: host and paths from provider_conf; embeddings are
// converted to the predict API (R-PRV-10, converters/); the token comes from
// `auth.gcp` (R-PRV-12, the default authentication of base.ts).
export const vertexAi: ProviderDef = {
  name: 'vertex-ai',
  host: (pc) => (pc?.region ? `${pc.region}-aiplatform.googleapis.com` : undefined),
  healthHost: 'aiplatform.googleapis.com',
  paths: {
    'openai-chat': (pc) => `/v1beta1/projects/${pc?.project_id}/locations/${pc?.region}/endpoints/openapi/chat/completions`,
    'vertex-predict': (pc, model) => `/v1/projects/${pc?.project_id}/locations/${pc?.region}/publishers/google/models/${model}:predict`,
  },
  confRequired: true,
  // R-CAP-4: Vertex's native bodies carry the bound in generationConfig
  maxTokensField: { 'vertex-predict': ['generationConfig', 'maxOutputTokens'] },
  checkInstance(inst) {
    const pc = inst.provider_conf;
    if (pc === undefined) return undefined;
    for (const k of ['project_id', 'region'] as const) if (typeof pc[k] !== 'string') return `provider vertex-ai needs provider_conf.${k}`;
    return undefined;
  },
};
