// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const aiRateLimiting: PluginDef = {
  name: 'ai-rate-limiting',
  priority: 1030,
  schema: { type: 'object', properties: {} },
};
