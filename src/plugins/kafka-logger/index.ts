// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const kafkaLogger: PluginDef = {
  name: 'kafka-logger',
  priority: 403,
  schema: { type: 'object', properties: {} },
};
