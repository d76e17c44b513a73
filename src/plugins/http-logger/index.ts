// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const httpLogger: PluginDef = {
  name: 'http-logger',
  priority: 410,
  schema: { type: 'object', properties: {} },
};
