// A provider (providers/<name>.ts): default host, the capability map (the
// protocols it serves, each with its default path, R-PRV-1), body rewrites
// (R-PRV-5) and its own upstream authentication. Shared mechanics are in
// providers/base.ts.
import type { Protocol } from '../protocols/types.js';

export type { Protocol } from '../protocols/types.js';

export interface ProviderConf {
  project_id?: string;
  region?: string;
}

/**
 * a path that depends on the model (declares at least two parameters) is
 * resolved per request; `stream`: the client asked for a streamed answer
 */
export type PathDef = string | ((pc: ProviderConf | undefined, model: string, stream: boolean) => string);

/** where one attempt is sent (src/llm/instance.ts ResolvedTarget) */
export interface UpstreamTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** path + "?" + query */
  pathWithQuery: string;
  /** the Host header: host with :port when not the scheme default */
  hostHeader: string;
}

/** the upstream authentication of one compiled instance, beyond `auth.header`/`auth.query` */
export interface ProviderAuth {
  /**
   * Adds what the attempt (a POST of `payload` to `target`) needs to
   * `headers`, which already hold the final content-type. Rejects with an
   * Error whose message is the client's error_msg.
   */
  authorize(headers: Record<string, string | string[]>, payload: Buffer | string, target: UpstreamTarget): Promise<void>;
}

export interface ProviderDef {
  name: string;
  /** default host (https, port 443); undefined when the provider needs override.endpoint */
  host?: string | ((pc: ProviderConf | undefined) => string | undefined);
  /** the host health checks probe when `host` gives none (R-HC-3) */
  healthHost?: string;
  /** the capability map: target protocols in the order of R-PRV-1, each with its default path */
  paths: Partial<Record<Protocol, PathDef>>;
  /** R-PRV-5: remove `model` from the outgoing body */
  removeModel?: boolean;
  /** R-APM-2: an instance needs `provider_conf` or `override` */
  confRequired?: boolean;
  /** the upstream path names the model: a request with neither `options.model` nor a body `model` is answered 400 */
  modelRequired?: boolean;
  /**
   * checks of an instance's configuration beyond the schema (Admin API 400):
   * the problem, naming the missing or bad attribute, or undefined
   */
  checkInstance?(inst: { provider_conf?: ProviderConf; auth?: any; override?: { endpoint?: string } }): string | undefined;
  /**
   * the instance's upstream authentication from its `auth` configuration;
   * absent: the shared default of providers/base.ts (GCP service accounts)
   */
  compileAuth?(auth: any, cacheKey: string, providerConf: ProviderConf | undefined): ProviderAuth | undefined;
  /**
   * R-CAP-4: where `override.llm_options.max_tokens` goes in the body sent
   * in a protocol (a path of member names; null: nowhere); unlisted
   * protocols take `max_tokens`
   */
  maxTokensField?: Partial<Record<Protocol, readonly string[] | null>>;
}
