// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const fileLogger: PluginDef = {
  name: 'file-logger',
  priority: 399,
  schema: { type: 'object', properties: {} },
};
