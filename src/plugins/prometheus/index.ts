// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const prometheus: PluginDef = {
  name: 'prometheus',
  priority: 500,
  schema: { type: 'object', properties: {} },
};
