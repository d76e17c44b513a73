// `checks.active` with every default of R-HC-1 applied (the plugin's schema
// applies them too; this keeps the service correct for partial input).
// Intervals and timeouts are seconds in the configuration; fractional values
// are accepted here (the schema restricts intervals to integers) so that
// tests can run fast.

export interface ActiveConf {
  type: 'http' | 'https' | 'tcp';
  timeoutMs: number;
  concurrency: number;
  /** `checks.active.host`: probe hostname (Host header, SNI) */
  host?: string;
  /** `checks.active.port` */
  port?: number;
  httpPath: string;
  verify: boolean;
  reqHeaders: string[];
  healthy: { intervalMs: number; statuses: Set<number>; successes: number };
  unhealthy: {
    intervalMs: number;
    statuses: Set<number>;
    httpFailures: number;
    tcpFailures: number;
    timeouts: number;
  };
}

export const DEFAULT_HEALTHY_STATUSES = [200, 302];
export const DEFAULT_UNHEALTHY_STATUSES = [429, 404, 500, 501, 502, 503, 504, 505];

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const num = (v: unknown, d: number, min = 0): number => (typeof v === 'number' && Number.isFinite(v) && v >= min ? v : d);
const count = (v: unknown, d: number): number => Math.min(254, Math.max(1, Math.floor(num(v, d, 1))));
const statuses = (v: unknown, d: number[]): Set<number> =>
  new Set(Array.isArray(v) && v.length ? v.filter((x): x is number => typeof x === 'number') : d);
/** seconds → ms; at least 10 ms so that a bad value cannot spin */
const secs = (v: unknown, d: number): number => Math.max(10, Math.round(num(v, d, 0) * 1000) || d * 1000);

/** R-HC-2: `unhealthy.timeouts`, else the seed's `unhealthy.timeout`, else 3 */
export function unhealthyTimeouts(unhealthy: Obj): number {
  return count(unhealthy.timeouts !== undefined ? unhealthy.timeouts : unhealthy.timeout, 3);
}

/** the one normalisation of `checks` (R-HC-1, R-HC-2), used by the health service */
export function normalizeChecks(checks: unknown): ActiveConf {
  const active = obj(obj(checks).active);
  const healthy = obj(active.healthy);
  const unhealthy = obj(active.unhealthy);
  const t = active.type;
  const type: ActiveConf['type'] = t === 'https' || t === 'tcp' ? t : 'http';
  const port = active.port;
  return {
    type,
    timeoutMs: secs(active.timeout, 1),
    concurrency: Math.max(1, Math.floor(num(active.concurrency, 10, 1))),
    host: typeof active.host === 'string' && active.host !== '' ? active.host : undefined,
    port: typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined,
    httpPath: typeof active.http_path === 'string' && active.http_path !== '' ? active.http_path : '/',
    verify: active.https_verify_certificate !== false,
    reqHeaders: Array.isArray(active.req_headers)
      ? active.req_headers.filter((h): h is string => typeof h === 'string')
      : [],
    healthy: {
      intervalMs: secs(healthy.interval, 1),
      statuses: statuses(healthy.http_statuses, DEFAULT_HEALTHY_STATUSES),
      successes: count(healthy.successes, 2),
    },
    unhealthy: {
      intervalMs: secs(unhealthy.interval, 1),
      statuses: statuses(unhealthy.http_statuses, DEFAULT_UNHEALTHY_STATUSES),
      httpFailures: count(unhealthy.http_failures, 5),
      tcpFailures: count(unhealthy.tcp_failures, 2),
      timeouts: unhealthyTimeouts(unhealthy),
    },
  };
}

/** `checks.passive` normalised (R-PHC-1); a threshold of 0 never trips */
export interface PassiveConf {
  type: 'http' | 'https' | 'tcp';
  healthy: { statuses: Set<number>; successes: number };
  unhealthy: { statuses: Set<number>; httpFailures: number; tcpFailures: number; timeouts: number };
}

/** APISIX's passive defaults (schema_def.lua health_checker_passive) */
export const DEFAULT_PASSIVE_HEALTHY_STATUSES = [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308];
export const DEFAULT_PASSIVE_UNHEALTHY_STATUSES = [429, 500, 503];

const count0 = (v: unknown, d: number): number => Math.min(254, Math.max(0, Math.floor(num(v, d, 0))));

/** `checks.passive`, or undefined when the instance has none */
export function normalizePassive(checks: unknown): PassiveConf | undefined {
  const p = obj(checks).passive;
  if (!p || typeof p !== 'object' || Array.isArray(p)) return undefined;
  const passive = p as Obj;
  const healthy = obj(passive.healthy);
  const unhealthy = obj(passive.unhealthy);
  const t = passive.type;
  return {
    type: t === 'https' || t === 'tcp' ? t : 'http',
    healthy: {
      statuses: statuses(healthy.http_statuses, DEFAULT_PASSIVE_HEALTHY_STATUSES),
      successes: count0(healthy.successes, 5),
    },
    unhealthy: {
      statuses: statuses(unhealthy.http_statuses, DEFAULT_PASSIVE_UNHEALTHY_STATUSES),
      httpFailures: count0(unhealthy.http_failures, 5),
      tcpFailures: count0(unhealthy.tcp_failures, 2),
      timeouts: count0(unhealthy.timeouts, 7),
    },
  };
}

/** R-PHC-2: a Retry-After value (delay-seconds or HTTP-date) in ms, capped; undefined when absent, past or garbage */
export const MAX_COOLDOWN_MS = 300_000;
export function retryAfterMs(v: unknown, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  let ms: number;
  if (/^\d+$/.test(t)) ms = Number(t) * 1000;
  else {
    const at = Date.parse(t);
    if (!Number.isFinite(at)) return undefined;
    ms = at - now;
  }
  if (!(ms > 0)) return undefined;
  return Math.min(ms, MAX_COOLDOWN_MS);
}
