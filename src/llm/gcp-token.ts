// STUB (owner: converters helper): GCP service-account access tokens (R-PRV-12).
export interface GcpAuthConf {
  service_account_json?: string;
  max_ttl?: number;
  expire_early_secs?: number;
}

/**
 * An access token for `conf`, cached per `cacheKey` (instance name + plugin
 * configuration). Rejects with an Error whose message is the reason.
 */
export async function getGcpAccessToken(cacheKey: string, conf: GcpAuthConf): Promise<string> {
  void cacheKey;
  void conf;
  throw new Error('not implemented');
}
