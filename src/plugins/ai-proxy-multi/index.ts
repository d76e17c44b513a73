// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const aiProxyMulti: PluginDef = {
  name: 'ai-proxy-multi',
  priority: 1041,
  schema: { type: 'object', properties: {} },
};
