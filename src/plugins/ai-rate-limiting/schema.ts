// ai-rate-limiting schema (R-RL-1, R-RL-20, R-RL-30), JSON Schema draft 4.
//
// The Admin API reports the first failure in the order APISIX's Lua
// validator checks keywords (properties and dependencies before oneOf), so
// the texts of R-RL-1 come out as the spec lists them. The redis attributes
// (R-RL-30) are plain optional properties without defaults (a `local`
// configuration is not cluttered with them); which ones a policy requires is
// checked in the plugin's check() with the schema wording, and the effective
// defaults are applied when compiling.

const intOrTemplate = (minimum: number, exclusive: boolean) => ({
  oneOf: [
    exclusive ? { type: 'integer', minimum, exclusiveMinimum: true } : { type: 'integer', minimum },
    { type: 'string', minLength: 1 },
  ],
});

const instanceSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    limit: intOrTemplate(1, false),
    time_window: intOrTemplate(1, false),
  },
  required: ['name', 'limit', 'time_window'],
};

const ruleSchema = {
  type: 'object',
  properties: {
    count: intOrTemplate(0, true),
    time_window: intOrTemplate(0, true),
    key: { type: 'string', minLength: 1 },
    header_prefix: { type: 'string', minLength: 1 },
  },
  required: ['count', 'time_window', 'key'],
};

const redisProps = {
  redis_host: { type: 'string', minLength: 2 },
  redis_port: { type: 'integer', minimum: 1 },
  redis_username: { type: 'string', minLength: 1 },
  redis_password: { type: 'string', minLength: 0 },
  redis_database: { type: 'integer', minimum: 0 },
  redis_timeout: { type: 'integer', minimum: 1 },
  redis_ssl: { type: 'boolean' },
  redis_ssl_verify: { type: 'boolean' },
  redis_keepalive_timeout: { type: 'integer', minimum: 1000 },
  redis_keepalive_pool: { type: 'integer', minimum: 1 },
};

const redisClusterProps = {
  redis_cluster_nodes: {
    type: 'array',
    minItems: 1,
    items: { type: 'string', minLength: 2, maxLength: 100 },
  },
  redis_cluster_name: { type: 'string', minLength: 1 },
  redis_cluster_ssl: { type: 'boolean' },
  redis_cluster_ssl_verify: { type: 'boolean' },
};

/** attributes each policy requires (checked in check()) */
export const policyRequired: Record<string, string[]> = {
  redis: ['redis_host'],
  'redis-cluster': ['redis_cluster_nodes', 'redis_cluster_name'],
};

export const schema = {
  type: 'object',
  properties: {
    limit: intOrTemplate(0, true),
    time_window: intOrTemplate(0, true),
    show_limit_quota_header: { type: 'boolean', default: true },
    limit_strategy: {
      type: 'string',
      enum: ['total_tokens', 'prompt_tokens', 'completion_tokens', 'expression'],
      default: 'total_tokens',
      description: 'The strategy to limit the tokens',
    },
    cost_expr: { type: 'string', minLength: 1 },
    instances: { type: 'array', items: instanceSchema, minItems: 1 },
    rules: { type: 'array', items: ruleSchema, minItems: 1 },
    rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503 },
    rejected_msg: { type: 'string', minLength: 1 },
    policy: { type: 'string', enum: ['local', 'redis', 'redis-cluster'], default: 'local' },
    allow_degradation: { type: 'boolean', default: false },
    ...redisProps,
    ...redisClusterProps,
  },
  dependencies: {
    limit: ['time_window'],
    time_window: ['limit'],
  },
  oneOf: [
    { anyOf: [{ required: ['limit', 'time_window'] }, { required: ['instances'] }] },
    { required: ['rules'] },
  ],
  // R-SEC-10: stored encrypted (as APISIX)
  encrypt_fields: ['redis_password', 'sentinel_password'],
};
