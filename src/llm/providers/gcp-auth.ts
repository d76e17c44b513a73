// `auth.gcp` (R-PRV-12): a service-account access token as the
// Authorization header of each attempt.
import { isSecretRef, resolveSecret } from '../../core/secrets.js';
import type { AccessTokenSource, GcpAuthConf } from '../../core/types.js';
import type { ProviderAuth } from './types.js';

export class GcpAuth implements ProviderAuth {
  private readonly ref: boolean;

  constructor(private readonly conf: GcpAuthConf, private readonly cacheKey: string, private readonly tokens: AccessTokenSource) {
    this.ref = typeof conf.service_account_json === 'string' && isSecretRef(conf.service_account_json);
  }

  async authorize(headers: Record<string, string | string[]>): Promise<void> {
    let conf = this.conf;
    if (this.ref) conf = { ...conf, service_account_json: resolveSecret(conf.service_account_json!) };
    try {
      headers.authorization = `Bearer ${await this.tokens.token(this.cacheKey, conf)}`;
    } catch (e) {
      throw new Error(`failed to get gcp access token: ${(e as Error).message}`);
    }
  }
}
