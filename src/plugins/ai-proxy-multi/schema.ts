// ai-proxy-multi configuration schema (R-APM-1, R-APM-2) and the checks
// beyond the schema (R-APM-3..6).
import { checksSchema } from '../../llm/health/checks-schema.js';
import { providerNames, confRequiredProviders, providers } from '../../llm/providers/index.js';
import { protocolNames } from '../../llm/protocols/index.js';

/** the provider names (src/llm/providers/) */
export const PROVIDERS = providerNames;

const namedStrings = {
  type: 'object',
  patternProperties: { '^[a-zA-Z0-9._-]+$': { type: 'string' } },
  additionalProperties: false,
};

/** header values sent upstream: CR and LF would split the header (request smuggling) */
export const HEADER_VALUE = { type: 'string', pattern: '^[^\\r\\n]*$' };

const namedHeaders = {
  type: 'object',
  patternProperties: { '^[a-zA-Z0-9._-]+$': HEADER_VALUE },
  additionalProperties: false,
};

export const authSchema = {
  type: 'object',
  properties: {
    header: namedHeaders,
    query: namedStrings,
    gcp: {
      type: 'object',
      properties: {
        service_account_json: { type: 'string' },
        max_ttl: { type: 'integer', minimum: 1 },
        expire_early_secs: { type: 'integer', minimum: 0, default: 60 },
      },
    },
    // R-BDR-1: SigV4 credentials (required members checked per provider, checkProvider)
    aws: {
      type: 'object',
      properties: {
        access_key_id: { type: 'string', minLength: 1 },
        secret_access_key: { type: 'string', minLength: 1 },
        session_token: { type: 'string', minLength: 1 },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

export const optionsSchema = {
  type: 'object',
  properties: { model: { type: 'string' } },
};

/** the members each provider needs are checked by checkProvider (vertex-ai: both, bedrock: region) */
export const providerConfSchema = {
  type: 'object',
  properties: { project_id: { type: 'string' }, region: { type: 'string' } },
};

export const overrideSchema = {
  type: 'object',
  properties: {
    endpoint: { type: 'string' },
    // R-CAP-4 (APISIX 3.18): unknown llm_options keys and unknown protocols are schema errors
    llm_options: { type: 'object', properties: { max_tokens: { type: 'integer', minimum: 1 } }, additionalProperties: false },
    request_body: {
      type: 'object',
      properties: Object.fromEntries([...protocolNames, 'passthrough'].map((n) => [n, { type: 'object' }])),
      additionalProperties: false,
    },
    request_body_force_override: { type: 'boolean' },
  },
};

export const loggingSchema = {
  type: 'object',
  properties: {
    summaries: { type: 'boolean', default: false },
    payloads: { type: 'boolean', default: false },
  },
};

/** shared by ai-proxy and ai-proxy-multi */
export const transportProps = {
  timeout: { type: 'integer', minimum: 1, maximum: 600000, default: 30000 },
  keepalive: { type: 'boolean', default: true },
  keepalive_timeout: { type: 'integer', minimum: 1000, default: 60000 },
  keepalive_pool: { type: 'integer', minimum: 1, default: 30 },
  ssl_verify: { type: 'boolean', default: true },
};

/**
 * Safety caps (R-CAP-1..4, APISIX 3.18) and stream timeouts (R-STR-1,
 * R-STR-3, switchyard), shared by ai-proxy and ai-proxy-multi
 */
export const limitProps = {
  max_req_body_size: { type: 'integer', minimum: 1, default: 67108864 },
  max_stream_duration_ms: { type: 'integer', minimum: 1 },
  max_response_bytes: { type: 'integer', minimum: 1 },
  streaming_flush_interval_ms: { type: 'integer', minimum: 0, default: 10 },
  ttft_timeout_ms: { type: 'integer', minimum: 1 },
  stream_idle_timeout_ms: { type: 'integer', minimum: 1 },
};

/** R-USG-4 (switchyard): prices per one million tokens */
export const pricingSchema = {
  type: 'object',
  properties: {
    input: { type: 'number', minimum: 0 },
    output: { type: 'number', minimum: 0 },
    cache_read: { type: 'number', minimum: 0 },
    currency: { type: 'string', minLength: 1, maxLength: 16, default: 'USD' },
  },
  additionalProperties: false,
};

export const instanceSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    provider: { type: 'string', enum: [...PROVIDERS] },
    provider_conf: providerConfSchema,
    priority: { type: 'integer', default: 0 },
    weight: { type: 'integer', minimum: 0 },
    auth: authSchema,
    options: optionsSchema,
    override: overrideSchema,
    checks: checksSchema,
    pricing: pricingSchema,
    // R-STR-1: wins over the plugin's
    ttft_timeout_ms: { type: 'integer', minimum: 1 },
  },
  required: ['name', 'provider', 'auth', 'weight'],
  // R-APM-2
  if: { properties: { provider: { enum: [...confRequiredProviders] } }, required: ['provider'] },
  then: { oneOf: [{ required: ['provider_conf'] }, { required: ['override'] }] },
};

export const schema = {
  type: 'object',
  properties: {
    fallback_strategy: {
      anyOf: [
        { type: 'string', enum: ['instance_health_and_rate_limiting', 'http_429', 'http_5xx'] },
        { type: 'array', items: { type: 'string', enum: ['rate_limiting', 'http_429', 'http_5xx'] } },
      ],
    },
    // R-RTY-1..3 (APISIX 3.18's attributes)
    fallback_http_statuses: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 400, maximum: 599 } },
    max_retries: { type: 'integer', minimum: 0 },
    retry_on_failure_within_ms: { type: 'integer', minimum: 1 },
    balancer: {
      type: 'object',
      properties: {
        algorithm: { type: 'string', enum: ['chash', 'roundrobin'] },
        hash_on: { type: 'string', enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'], default: 'vars' },
        key: { type: 'string' },
      },
      default: { algorithm: 'roundrobin' },
    },
    instances: { type: 'array', minItems: 1, items: instanceSchema },
    logging: loggingSchema,
    ...transportProps,
    ...limitProps,
  },
  required: ['instances'],
  // R-SEC-10: stored encrypted (APISIX 3.18's list)
  encrypt_fields: [
    'instances.auth.header',
    'instances.auth.query',
    'instances.auth.gcp.service_account_json',
    'instances.auth.aws.secret_access_key',
    'instances.auth.aws.session_token',
    'semantic_opts.embeddings.auth.header',
    'semantic_opts.embeddings.auth.query',
  ],
};

const ENDPOINT_RE = /^(https?):\/\/([^:/]+):?(\d*)\/?.*$/;
const VARS_KEY_RE = '^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$';
const HEADER_KEY_RE = '^[a-zA-Z0-9-_]+$';

/** R-APM-3 / R-AP-3 */
export function checkEndpoint(endpoint: unknown): string | undefined {
  if (typeof endpoint !== 'string') return undefined;
  const m = ENDPOINT_RE.exec(endpoint);
  // an IPv6 literal only "matches" by capturing "[" as the host: not a usable endpoint
  if (!m || m[2]!.startsWith('[')) return 'invalid endpoint';
  return undefined;
}

/** R-APM-2, R-BDR-1: the provider's own checks of one instance (or ai-proxy configuration) */
export function checkProvider(inst: any): string | undefined {
  return providers.get(inst?.provider)?.checkInstance?.(inst);
}

/** R-APM-3 / R-AP-2 */
export function checkGcp(auth: any): string | undefined {
  const json = auth?.gcp?.service_account_json;
  if (typeof json !== 'string') return undefined;
  try {
    JSON.parse(json);
  } catch (e) {
    return `invalid gcp service_account_json: ${(e as Error).message}`;
  }
  return undefined;
}

export function check(conf: any): string | undefined {
  const instances: any[] = conf.instances ?? [];
  const seen = new Map<string, number>();
  for (let i = 0; i < instances.length; i++) {
    const inst = instances[i];
    const prev = seen.get(inst.name);
    if (prev !== undefined) return `duplicate instance name '${inst.name}' at instances[${prev + 1}] and instances[${i + 1}]`;
    seen.set(inst.name, i);
  }
  for (const inst of instances) {
    const e = checkEndpoint(inst.override?.endpoint) ?? checkGcp(inst.auth);
    if (e) return e;
    const pe = checkProvider(inst);
    if (pe) return `instance ${inst.name}: ${pe}`;
  }
  const b = conf.balancer;
  if (b && b.algorithm === 'chash') {
    const hashOn = b.hash_on ?? 'vars';
    if (hashOn !== 'consumer' && !b.key) return 'must configure `hash_key` when balancer `hash_on` is not set to cookie';
    if (hashOn === 'vars' && !new RegExp(VARS_KEY_RE).test(b.key)) {
      return `invalid configuration: failed to match pattern "${VARS_KEY_RE}" with "${b.key}"`;
    }
    if ((hashOn === 'header' || hashOn === 'cookie') && !new RegExp(HEADER_KEY_RE).test(b.key)) {
      return `invalid configuration: failed to match pattern "${HEADER_KEY_RE}" with "${b.key}"`;
    }
  }
  return undefined;
}
