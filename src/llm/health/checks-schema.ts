// `instances[].checks` schema (R-HC-1, R-HC-2): `active` required, `passive`
// accepted and ignored. Defaults are filled in by validation, so the health
// service receives a complete `checks.active` object.
const statusList = (def: number[]) => ({
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'integer', minimum: 200, maximum: 599 },
  default: def,
});
const counter = (def: number) => ({ type: 'integer', minimum: 1, maximum: 254, default: def });

export const activeChecksSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['http', 'https', 'tcp'], default: 'http' },
    timeout: { type: 'number', default: 1 },
    concurrency: { type: 'integer', default: 10 },
    host: { type: 'string', pattern: '^\\*?[0-9a-zA-Z-._\\[\\]:]+$' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    http_path: { type: 'string', default: '/' },
    https_verify_certificate: { type: 'boolean', default: true },
    req_headers: { type: 'array', minItems: 1, items: { type: 'string', uniqueItems: true } },
    healthy: {
      type: 'object',
      default: {},
      properties: {
        interval: { type: 'integer', minimum: 1, default: 1 },
        http_statuses: statusList([200, 302]),
        successes: counter(2),
      },
    },
    unhealthy: {
      type: 'object',
      default: {},
      properties: {
        interval: { type: 'integer', minimum: 1, default: 1 },
        http_statuses: statusList([429, 404, 500, 501, 502, 503, 504, 505]),
        http_failures: counter(5),
        tcp_failures: counter(2),
        // R-HC-2: `timeouts` is APISIX's name; the seed's `timeout` is used
        // when `timeouts` is absent (resolved in conf.ts normalizeChecks)
        timeouts: { type: 'integer', minimum: 1, maximum: 254 },
        timeout: { type: 'integer', minimum: 1, maximum: 254 },
      },
    },
  },
};

export const checksSchema = {
  type: 'object',
  properties: {
    active: activeChecksSchema,
    passive: { type: 'object' },
  },
  required: ['active'],
};
