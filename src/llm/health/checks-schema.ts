// `instances[].checks` schema (R-HC-1, R-HC-2, R-PHC-1): `active`, `passive`
// or both. Defaults are filled in by validation, so the health service
// receives complete objects. `passive` is APISIX's upstream passive schema
// (schema_def.lua health_checker_passive): its counters accept 0 (never trips).
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

const counter0 = (def: number) => ({ type: 'integer', minimum: 0, maximum: 254, default: def });

export const passiveChecksSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: ['http', 'https', 'tcp'], default: 'http' },
    healthy: {
      type: 'object',
      default: {},
      properties: {
        http_statuses: statusList([200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]),
        successes: counter0(5),
      },
    },
    unhealthy: {
      type: 'object',
      default: {},
      properties: {
        http_statuses: statusList([429, 500, 503]),
        tcp_failures: counter0(2),
        timeouts: counter0(7),
        http_failures: counter0(5),
      },
    },
  },
};

export const checksSchema = {
  type: 'object',
  properties: {
    active: activeChecksSchema,
    passive: passiveChecksSchema,
  },
  // R-PHC-1: APISIX requires `active`; a passive-only checker recovers through trial requests
  anyOf: [{ required: ['active'] }, { required: ['passive'] }],
};
