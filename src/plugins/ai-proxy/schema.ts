// ai-proxy configuration schema (R-AP-1) and checks (R-AP-2, R-AP-3).
import { PROVIDERS, authSchema, optionsSchema, providerConfSchema, overrideSchema, loggingSchema, pricingSchema, transportProps, limitProps, checkEndpoint, checkGcp, checkProvider } from '../ai-proxy-multi/schema.js';

export const schema = {
  type: 'object',
  properties: {
    provider: { type: 'string', enum: [...PROVIDERS] },
    provider_conf: providerConfSchema,
    auth: authSchema,
    options: optionsSchema,
    override: overrideSchema,
    logging: loggingSchema,
    pricing: pricingSchema,
    ...transportProps,
    ...limitProps,
  },
  required: ['provider', 'auth'],
  // R-SEC-10: stored encrypted (APISIX 3.18's list)
  encrypt_fields: ['auth.header', 'auth.query', 'auth.gcp.service_account_json', 'auth.aws.secret_access_key', 'auth.aws.session_token'],
};

export function check(conf: any): string | undefined {
  return checkGcp(conf.auth) ?? checkEndpoint(conf.override?.endpoint) ?? checkProvider(conf);
}
