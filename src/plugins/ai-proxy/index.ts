// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const aiProxy: PluginDef = {
  name: 'ai-proxy',
  priority: 1040,
  schema: { type: 'object', properties: {} },
};
