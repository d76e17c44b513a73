// An ai-proxy-multi instance compiled once per configuration change:
// provider, endpoint parts, auth, options (R-REQ-4..12).
import { getProvider, targetProtocol, compileAuth, type ProviderDef, type ProviderConf, type ProviderAuth } from './providers/index.js';
import { getProtocol, type LlmProtocol, type Protocol } from './protocols/index.js';
import { getConverter, type Converter } from './converters/index.js';
import type { TransportConf } from './transport.js';
import { isIP } from 'node:net';
import { isSecretRef, resolveSecret } from '../core/secrets.js';
import type { AccessTokenSource, LlmPricing } from '../core/types.js';
import { compilePricing } from './pricing.js';
import { compileOverride, type CompiledOverride } from './body-override.js';

export interface Endpoint {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** scheme://host[:port] */
  origin: string;
  /** the URL's path, undefined when the URL has none (the provider's default path is used) */
  path?: string;
  /** URL query members */
  query: [string, string][];
}

export interface CompiledInstance {
  index: number;
  name: string;
  provider: ProviderDef;
  providerConf?: ProviderConf;
  priority: number;
  weight: number;
  options?: Record<string, unknown>;
  /**
   * `options` as entries when every value is a primitive (string, number,
   * boolean, null): a request that already holds them all is sent as it came
   * (buildBody); undefined when any value is an object or array
   */
  primitiveOptions?: readonly (readonly [string, unknown])[];
  optionsModel?: string;
  optionsStream: boolean;
  /** `options.max_tokens` (R-QTA-2 estimate) */
  optionsMaxTokens?: number;
  /** R-USG-4 */
  pricing?: LlmPricing;
  endpoint?: Endpoint;
  /** lower-cased names; values may be `$env://` references (R-SEC-2) */
  authHeaders: [string, string][];
  authQuery: [string, string][];
  hasSecretRefs: boolean;
  /** auth.query holds `$env://` references: endpoints are resolved per request */
  hasQueryRefs: boolean;
  /** the provider's authentication of each attempt (GCP, ...), compiled once */
  auth?: ProviderAuth;
  /** the configured `auth` (for health probes, R-HC-4) */
  rawAuth?: { header?: Record<string, string>; query?: Record<string, string> };
  checks?: Record<string, unknown>;
  /** R-CAP-4: `override.llm_options` / `override.request_body` */
  bodyOverride?: CompiledOverride;
  /** R-STR-1: `ttft_timeout_ms` of the instance, else of the plugin */
  ttftMs?: number;
  /** shared per setting tuple; the engine releases it when destroyed */
  timeout: number;
  keepalive: boolean;
  /** the endpoint host/port (R-HC-3, $balancer_port) */
  hostInfo?: { scheme: 'http' | 'https'; host: string; port: number };
  /** per target protocol: resolved origin/path/query (when it does not depend on the model) */
  targets: Map<Protocol, ResolvedTarget | undefined>;
  /** per client protocol: the provider's target protocol and converter (cached) */
  protocols: Map<LlmProtocol, InstanceProtocol>;
}

export interface ResolvedTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  origin: string;
  /** path + "?" + query (the request target) */
  pathWithQuery: string;
  /** $upstream_host: host with :port when not the scheme default */
  hostHeader: string;
  /** "host:port", the key of the last connected peer (R-VAR-4 $upstream_addr) */
  addrKey: string;
  /** the host is a name (not an IP address): $upstream_addr names the resolved peer */
  named: boolean;
}

const ENDPOINT_RE = /^(https?):\/\/([^:/]+):?(\d*)(\/?.*)$/;

export function parseEndpoint(url: string): Endpoint | undefined {
  const m = ENDPOINT_RE.exec(url);
  if (!m) return undefined;
  const scheme = m[1] as 'http' | 'https';
  const host = m[2]!;
  const port = m[3] ? Number(m[3]) : scheme === 'https' ? 443 : 80;
  let rest = m[4] ?? '';
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const query: [string, string][] = q < 0 ? [] : [...new URLSearchParams(rest.slice(q + 1))];
  const defPort = scheme === 'https' ? 443 : 80;
  return {
    scheme,
    host,
    port,
    origin: `${scheme}://${host}${port === defPort ? '' : `:${port}`}`,
    path: pathPart === '' ? undefined : pathPart,
    query,
  };
}

export function compileInstance(inst: any, index: number, t: TransportConf, cacheKeyBase: string, tokens: AccessTokenSource): CompiledInstance {
  const provider = getProvider(inst.provider);
  const authHeaders: [string, string][] = Object.entries((inst.auth?.header ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]);
  const authQuery: [string, string][] = Object.entries((inst.auth?.query ?? {}) as Record<string, string>);
  const hasSecretRefs = [...authHeaders, ...authQuery].some(([, v]) => isSecretRef(v));
  const options = inst.options && Object.keys(inst.options).length > 0 ? (inst.options as Record<string, unknown>) : undefined;
  const c: CompiledInstance = {
    index,
    name: inst.name,
    provider,
    providerConf: inst.provider_conf,
    priority: inst.priority ?? 0,
    weight: inst.weight ?? 0,
    options,
    primitiveOptions: options !== undefined && Object.values(options).every((v) => v === null || typeof v !== 'object') ? Object.entries(options) : undefined,
    optionsModel: typeof options?.model === 'string' ? (options.model as string) : undefined,
    optionsStream: options?.stream === true,
    pricing: compilePricing(inst.pricing),
    optionsMaxTokens: typeof options?.max_tokens === 'number' && options.max_tokens > 0 ? (options.max_tokens as number)
      : typeof inst.override?.llm_options?.max_tokens === 'number' ? (inst.override.llm_options.max_tokens as number) : undefined,
    bodyOverride: compileOverride(inst.override),
    endpoint: typeof inst.override?.endpoint === 'string' ? parseEndpoint(inst.override.endpoint) : undefined,
    authHeaders,
    authQuery,
    hasSecretRefs,
    hasQueryRefs: authQuery.some(([, v]) => isSecretRef(v)),
    auth: compileAuth(provider, inst.auth, `${cacheKeyBase}#${inst.name}`, tokens, inst.provider_conf),
    rawAuth: inst.auth,
    checks: inst.checks,
    timeout: t.timeout,
    keepalive: t.keepalive,
    targets: new Map(),
    protocols: new Map(),
  };
  c.hostInfo = instanceHost(c);
  return c;
}

/** the endpoint host (for health checks, R-HC-3) */
export function instanceHost(c: CompiledInstance): { scheme: 'http' | 'https'; host: string; port: number } | undefined {
  if (c.endpoint) return { scheme: c.endpoint.scheme, host: c.endpoint.host, port: c.endpoint.port };
  const h = typeof c.provider.host === 'function' ? c.provider.host(c.providerConf) : c.provider.host;
  if (h) return { scheme: 'https', host: h, port: 443 };
  if (c.provider.healthHost) return { scheme: 'https', host: c.provider.healthHost, port: 443 };
  return undefined;
}

/**
 * R-REQ-6 endpoint resolution for a target protocol; undefined when the
 * instance has no endpoint (R-PRV-3). Cached unless the path depends on the model.
 */
export function resolveTarget(c: CompiledInstance, protocol: Protocol, model: string, stream = false): ResolvedTarget | undefined {
  const cached = c.targets.get(protocol);
  if (cached) return cached;
  const pathDef = c.provider.paths[protocol];
  // a path function that declares the model parameter depends on the model
  const modelDependent = typeof pathDef === 'function' && pathDef.length >= 2 && !c.endpoint?.path;
  let scheme: 'http' | 'https';
  let host: string;
  let port: number;
  let path: string | undefined;
  let query: [string, string][];
  if (c.endpoint) {
    ({ scheme, host, port } = c.endpoint);
    path = c.endpoint.path ?? (typeof pathDef === 'function' ? pathDef(c.providerConf, model, stream) : pathDef);
    const q = new Map<string, string>(resolvePairs(c.authQuery));
    for (const [k, v] of c.endpoint.query) q.set(k, v);
    query = [...q];
  } else {
    const h = typeof c.provider.host === 'function' ? c.provider.host(c.providerConf) : c.provider.host;
    if (!h) return undefined;
    scheme = 'https';
    host = h;
    port = 443;
    path = typeof pathDef === 'function' ? pathDef(c.providerConf, model, stream) : pathDef;
    query = resolvePairs(c.authQuery);
  }
  if (path === undefined) return undefined;
  const qs = query.length ? '?' + new URLSearchParams(query).toString() : '';
  const defPort = scheme === 'https' ? 443 : 80;
  const hostHeader = port === defPort ? host : `${host}:${port}`;
  const t: ResolvedTarget = {
    scheme, host, port, origin: `${scheme}://${hostHeader}`, pathWithQuery: path + qs, hostHeader,
    addrKey: `${host}:${port}`, named: !isIP(host),
  };
  if (!modelDependent && !c.hasQueryRefs) c.targets.set(protocol, t);
  return t;
}

export function resolvePairs(pairs: [string, string][]): [string, string][] {
  return pairs.map(([k, v]) => [k, resolveSecret(v)]);
}

export type TargetProtocol = ReturnType<typeof targetProtocol>;

/** what an instance sends for one client protocol: the target protocol and the converter, or an error text */
export type InstanceProtocol = { target: LlmProtocol; converter?: Converter } | { error: string };

/** computed once per instance and client protocol */
export function instanceProtocol(c: CompiledInstance, client: LlmProtocol): InstanceProtocol {
  let ip = c.protocols.get(client);
  if (ip === undefined) {
    const tp = targetProtocol(c.provider, client.name);
    if ('error' in tp) ip = tp;
    else ip = { target: getProtocol(tp.target), converter: tp.converted ? getConverter(client.name, tp.target) : undefined };
    c.protocols.set(client, ip);
  }
  return ip;
}
