// Resource schemas of the Admin API (R-RES-1..9, R-ADM-15), APISIX's
// `apisix/schema_def.lua` restricted to what switchyard implements.
import type { JSONSchema } from '../core/types.js';

export const idSchema: JSONSchema = {
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-_.]+$' },
    { type: 'integer', minimum: 1 },
  ],
};

const nameDef = { type: 'string', minLength: 1, maxLength: 256 };
const descDef = { type: 'string', maxLength: 256 };
const timestampDef = { type: 'integer' };
const labelsDef = {
  type: 'object',
  patternProperties: {
    '.*': { type: 'string', pattern: '^\\S+$', minLength: 1, maxLength: 256 },
  },
};

export const hostDef = { type: 'string', pattern: '^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$' };

const ipDef = [
  { format: 'ipv4' },
  { format: 'ipv6' },
  { pattern: '^(([01]?\\d?\\d|2[0-4]\\d|25[0-5])\\.){3}([01]?\\d?\\d|2[0-4]\\d|25[0-5])/([12]?[0-9]|3[0-2])$' },
  { pattern: '^([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?/[0-9]{1,3}$' },
];
const remoteAddrDef = { type: 'string', anyOf: ipDef };

const timeoutDef = {
  type: 'object',
  properties: {
    connect: { type: 'number', minimum: 0, exclusiveMinimum: true },
    send: { type: 'number', minimum: 0, exclusiveMinimum: true },
    read: { type: 'number', minimum: 0, exclusiveMinimum: true },
  },
  required: ['connect', 'send', 'read'],
};

/** plugin name → configuration (each checked against the plugin's own schema) */
const pluginsDef = { type: 'object' };

const nodesDef = {
  anyOf: [
    {
      type: 'object',
      patternProperties: { '.*': { type: 'integer', minimum: 0 } },
    },
    {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host: hostDef,
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          weight: { type: 'integer', minimum: 0 },
          priority: { type: 'integer', default: 0 },
          metadata: { type: 'object' },
        },
        required: ['host', 'weight'],
      },
    },
  ],
};

/** R-RES-9: the Upstream object, standalone or inline */
export const upstreamSchema: JSONSchema = {
  type: 'object',
  properties: {
    create_time: timestampDef,
    update_time: timestampDef,
    nodes: nodesDef,
    retries: { type: 'integer', minimum: 0 },
    retry_timeout: { type: 'number', minimum: 0 },
    timeout: timeoutDef,
    // accepted, not implemented (R-UPS-8)
    tls: { type: 'object' },
    keepalive_pool: {
      type: 'object',
      properties: {
        size: { type: 'integer', minimum: 1, default: 320 },
        idle_timeout: { type: 'number', minimum: 0, default: 60 },
        requests: { type: 'integer', minimum: 1, default: 1000 },
      },
    },
    checks: { type: 'object' },
    discovery_type: { type: 'string' },
    discovery_args: { type: 'object' },
    service_name: { type: 'string', minLength: 1, maxLength: 256 },
    type: { type: 'string', enum: ['roundrobin', 'chash'], default: 'roundrobin' },
    hash_on: {
      type: 'string',
      enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'],
      default: 'vars',
    },
    key: { type: 'string' },
    scheme: { type: 'string', enum: ['http', 'https'], default: 'http' },
    pass_host: { type: 'string', enum: ['pass', 'node', 'rewrite'], default: 'pass' },
    upstream_host: hostDef,
    name: nameDef,
    desc: descDef,
    labels: labelsDef,
    id: idSchema,
  },
  oneOf: [{ required: ['nodes'] }, { required: ['service_name', 'discovery_type'] }],
  additionalProperties: false,
};

const methodsDef = {
  type: 'array',
  items: {
    type: 'string',
    enum: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'],
  },
  uniqueItems: true,
};

/** R-RES-1 */
export const routeSchema: JSONSchema = {
  type: 'object',
  properties: {
    create_time: timestampDef,
    update_time: timestampDef,
    uri: { type: 'string', minLength: 1, maxLength: 4096 },
    uris: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true },
    name: nameDef,
    desc: descDef,
    priority: { type: 'integer', default: 0 },
    methods: methodsDef,
    host: hostDef,
    hosts: { type: 'array', items: hostDef, minItems: 1, uniqueItems: true },
    remote_addr: remoteAddrDef,
    remote_addrs: { type: 'array', items: remoteAddrDef, minItems: 1, uniqueItems: true },
    timeout: timeoutDef,
    vars: { type: 'array' },
    plugins: pluginsDef,
    upstream: upstreamSchema,
    labels: labelsDef,
    service_id: idSchema,
    upstream_id: idSchema,
    enable_websocket: { type: 'boolean' },
    id: idSchema,
    status: { type: 'integer', enum: [1, 0], default: 1 },
  },
  allOf: [
    { oneOf: [{ required: ['uri'] }, { required: ['uris'] }] },
    {
      oneOf: [
        { not: { anyOf: [{ required: ['host'] }, { required: ['hosts'] }] } },
        { required: ['host'] },
        { required: ['hosts'] },
      ],
    },
    {
      oneOf: [
        { not: { anyOf: [{ required: ['remote_addr'] }, { required: ['remote_addrs'] }] } },
        { required: ['remote_addr'] },
        { required: ['remote_addrs'] },
      ],
    },
  ],
  anyOf: [
    { required: ['plugins', 'uri'] },
    { required: ['upstream', 'uri'] },
    { required: ['upstream_id', 'uri'] },
    { required: ['service_id', 'uri'] },
    { required: ['plugins', 'uris'] },
    { required: ['upstream', 'uris'] },
    { required: ['upstream_id', 'uris'] },
    { required: ['service_id', 'uris'] },
  ],
  additionalProperties: false,
};

/** R-RES-4 */
export const serviceSchema: JSONSchema = {
  type: 'object',
  properties: {
    id: idSchema,
    create_time: timestampDef,
    update_time: timestampDef,
    name: nameDef,
    desc: descDef,
    labels: labelsDef,
    plugins: pluginsDef,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    enable_websocket: { type: 'boolean' },
    hosts: { type: 'array', items: hostDef, minItems: 1, uniqueItems: true },
  },
  additionalProperties: false,
};

/** R-RES-6 */
export const consumerSchema: JSONSchema = {
  type: 'object',
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9_\\-]+$' },
    group_id: idSchema,
    plugins: pluginsDef,
    labels: labelsDef,
    create_time: timestampDef,
    update_time: timestampDef,
    desc: descDef,
  },
  required: ['username'],
  additionalProperties: false,
};

/** R-RES-7 */
export const credentialSchema: JSONSchema = {
  type: 'object',
  properties: {
    id: {
      anyOf: [
        idSchema,
        { type: 'string', minLength: 15, maxLength: 128, pattern: '^[a-zA-Z0-9-_]+/credentials/[a-zA-Z0-9-_.]+$' },
      ],
    },
    plugins: { type: 'object', maxProperties: 1 },
    labels: labelsDef,
    create_time: timestampDef,
    update_time: timestampDef,
    name: nameDef,
    desc: descDef,
  },
  additionalProperties: false,
};

/** R-RES-8 */
export const globalRuleSchema: JSONSchema = {
  type: 'object',
  properties: {
    id: idSchema,
    plugins: pluginsDef,
    create_time: timestampDef,
    update_time: timestampDef,
  },
  required: ['plugins'],
  additionalProperties: false,
};

export type ResourceKind = 'routes' | 'services' | 'consumers' | 'credentials' | 'global_rules' | 'upstreams';

export const resourceSchemas: Record<ResourceKind, JSONSchema> = {
  routes: routeSchema,
  services: serviceSchema,
  consumers: consumerSchema,
  credentials: credentialSchema,
  global_rules: globalRuleSchema,
  upstreams: upstreamSchema,
};

/** APISIX's `_meta` schema injected into every plugin schema (R-ADM-51) */
export const metaSchema: JSONSchema = {
  type: 'object',
  properties: {
    disable: { type: 'boolean' },
    error_response: { oneOf: [{ type: 'string' }, { type: 'object' }] },
    priority: { description: 'priority of plugins by customized order', type: 'integer' },
    filter: {
      description: 'filter determines whether the plugin needs to be executed at runtime',
      type: 'array',
    },
    pre_function: {
      description:
        'function to be executed in each phase before execution of plugins. The pre_function will have access to two arguments: `conf` and `ctx`.',
      type: 'string',
    },
  },
  additionalProperties: false,
};

export const INJECTED_COMMENT = 'this is a mark for our injected plugin schema';
