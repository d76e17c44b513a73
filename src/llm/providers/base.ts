// Mechanics shared by the providers (after APISIX's ai-providers/base.lua):
// protocol capability (R-REQ-3), the default authentication.
import type { ProviderAuth, ProviderConf, ProviderDef } from './types.js';
import type { AccessTokenSource } from '../../core/types.js';
import type { Protocol } from '../protocols/types.js';
import { convertersFrom } from '../converters/index.js';
import { GcpAuth } from './gcp-auth.js';

/**
 * R-REQ-3: the target protocol for a client protocol, or an error text
 * (`provider <p> does not support <proto> protocol (supported: <list>)`):
 * the client's own protocol when the provider serves it, else the first
 * registered converter to a protocol it serves.
 */
export function targetProtocol(p: ProviderDef, client: Protocol): { target: Protocol; converted: boolean } | { error: string } {
  if (p.paths[client] !== undefined) return { target: client, converted: false };
  for (const c of convertersFrom(client)) if (p.paths[c.to] !== undefined) return { target: c.to, converted: true };
  return { error: `provider ${p.name} does not support ${client} protocol (supported: ${Object.keys(p.paths).join(', ')})` };
}

/** the instance's upstream authentication: the provider's own, else GCP when `auth.gcp` is set */
export function compileAuth(p: ProviderDef, auth: any, cacheKey: string, tokens: AccessTokenSource, providerConf?: ProviderConf): ProviderAuth | undefined {
  if (p.compileAuth) return p.compileAuth(auth, cacheKey, providerConf);
  return auth?.gcp ? new GcpAuth(auth.gcp, cacheKey, tokens) : undefined;
}
