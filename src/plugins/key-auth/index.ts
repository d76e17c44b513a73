// STUB: replaced by the helper that owns this plugin.
import type { PluginDef } from '../../core/types.js';

export const keyAuth: PluginDef = {
  name: 'key-auth',
  priority: 2500,
  type: 'auth',
  consumerSchema: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'], encrypt_fields: ['key'] },
  schema: { type: 'object', properties: {} },
};
