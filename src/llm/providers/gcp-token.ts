// GCP service-account access tokens (R-PRV-12): an RS256 JWT assertion is
// exchanged at the account's token_uri for an access token, which is cached
// per cache key for `expires_in` minus `expire_early_secs`, capped at
// `max_ttl`. Concurrent requests for the same key share one exchange. The
// cache is an object the running gateway owns (CompileEnv.gcpTokens), so two
// gateways in one process (tests, workers) never share tokens.
import type { KeyLike } from 'jose';
import type { Dispatcher } from 'undici';
import type { AccessTokenSource, GcpAuthConf } from '../../core/types.js';
import type { TransportHandle, UpstreamTransport } from '../../core/transport-types.js';

/** jose is loaded with the first GCP token, not at start (RSS) */
const loadJose = () => import('jose');

export type { GcpAuthConf };

export const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';
export const DEFAULT_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_TIMEOUT_MS = 10_000;
const MAX_CACHE_ENTRIES = 1000;

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** R-PRV-12 cache lifetime in seconds */
export function tokenTtl(expiresIn: number | undefined, conf: Pick<GcpAuthConf, 'expire_early_secs' | 'max_ttl'>): number {
  let ttl = typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? expiresIn : 3600;
  const early = conf.expire_early_secs ?? 60;
  if (ttl > early) ttl -= early;
  if (conf.max_ttl !== undefined && conf.max_ttl !== null && ttl > conf.max_ttl) ttl = conf.max_ttl;
  return ttl;
}

interface ServiceAccount {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
  scope: string;
}

function serviceAccount(conf: GcpAuthConf): ServiceAccount {
  const raw = conf.service_account_json || process.env.GCP_SERVICE_ACCOUNT;
  if (!raw) throw new Error('no GCP service account found in config or GCP_SERVICE_ACCOUNT env var');
  let sa: any;
  try {
    sa = JSON.parse(raw);
  } catch (err) {
    throw new Error(`invalid gcp service account json: ${(err as Error).message}`);
  }
  if (!sa || typeof sa !== 'object') throw new Error('invalid gcp service account json: not an object');
  if (typeof sa.client_email !== 'string' || !sa.client_email) throw new Error('invalid gcp service account json: missing client_email');
  if (typeof sa.private_key !== 'string' || !sa.private_key) throw new Error('invalid gcp service account json: missing private_key');
  const scope = Array.isArray(sa.scope) ? sa.scope.join(' ') : typeof sa.scope === 'string' && sa.scope ? sa.scope : DEFAULT_SCOPE;
  return {
    client_email: sa.client_email,
    private_key: sa.private_key,
    private_key_id: typeof sa.private_key_id === 'string' ? sa.private_key_id : undefined,
    token_uri: typeof sa.token_uri === 'string' && sa.token_uri ? sa.token_uri : DEFAULT_TOKEN_URI,
    scope,
  };
}

function signingKey(keys: Map<string, Promise<KeyLike>>, pem: string): Promise<KeyLike> {
  let k = keys.get(pem);
  if (!k) {
    k = loadJose().then((jose) => jose.importPKCS8(pem, 'RS256')).catch((err: Error) => {
      keys.delete(pem);
      throw new Error(`invalid gcp service account private_key: ${err.message}`);
    });
    keys.set(pem, k);
  }
  return k;
}

/** the signed JWT assertion (claims iss, aud, scope, iat, exp = iat + 3600) */
async function gcpAssertion(keys: Map<string, Promise<KeyLike>>, sa: ServiceAccount, nowSec = Math.floor(Date.now() / 1000)): Promise<string> {
  const key = await signingKey(keys, sa.private_key);
  const header: { alg: 'RS256'; typ: 'JWT'; kid?: string } = { alg: 'RS256', typ: 'JWT' };
  if (sa.private_key_id) header.kid = sa.private_key_id;
  const { SignJWT } = await loadJose();
  return new SignJWT({ scope: sa.scope })
    .setProtectedHeader(header)
    .setIssuer(sa.client_email)
    .setAudience(sa.token_uri)
    .setIssuedAt(nowSec)
    .setExpirationTime(nowSec + 3600)
    .sign(key);
}

/** the token endpoint is called through the gateway's transport, with these settings */
const TOKEN_TRANSPORT = {
  connectTimeout: TOKEN_TIMEOUT_MS,
  headersTimeout: TOKEN_TIMEOUT_MS,
  bodyTimeout: TOKEN_TIMEOUT_MS,
  keepAliveTimeout: 60_000,
  keepAliveMaxTimeout: 600_000,
  tlsVerify: true,
};

/** R-PRV-12: the access tokens of the gateway's GCP service accounts */
export class GcpTokenCache implements AccessTokenSource {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly keys = new Map<string, Promise<KeyLike>>();
  private handle?: TransportHandle;

  /** without a transport (unit tests) undici's global dispatcher is used */
  constructor(private readonly transport?: UpstreamTransport) {}

  /**
   * An access token for `conf`, cached per `cacheKey` (instance name + plugin
   * configuration). Rejects with an Error whose message is the reason.
   */
  token(cacheKey: string, conf: GcpAuthConf): Promise<string> {
    const hit = this.cache.get(cacheKey);
    if (hit) {
      if (hit.expiresAt > Date.now()) return Promise.resolve(hit.token);
      this.cache.delete(cacheKey);
    }
    let p = this.inflight.get(cacheKey);
    if (!p) {
      p = this.fetchToken(cacheKey, conf).finally(() => this.inflight.delete(cacheKey));
      this.inflight.set(cacheKey, p);
    }
    return p;
  }

  /** the gateway stops: the transport handle is given back */
  close(): void {
    this.handle?.release();
    this.handle = undefined;
    this.cache.clear();
  }

  private async post(url: string, form: string): Promise<Dispatcher.ResponseData> {
    const opts = {
      method: 'POST' as const,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
      headersTimeout: TOKEN_TIMEOUT_MS,
      bodyTimeout: TOKEN_TIMEOUT_MS,
    };
    // without the gateway's transport (tests): undici's global dispatcher
    if (!this.transport) return (await import('undici')).request(url, opts);
    const h = (this.handle ??= this.transport.acquire(TOKEN_TRANSPORT));
    const u = new URL(url);
    const dispatcher = h.begin();
    try {
      return await dispatcher.request({ ...opts, origin: u.origin, path: u.pathname + u.search });
    } finally {
      h.end();
    }
  }

  private async fetchToken(cacheKey: string, conf: GcpAuthConf): Promise<string> {
    const sa = serviceAccount(conf);
    const assertion = await gcpAssertion(this.keys, sa);
    const form = `grant_type=${encodeURIComponent(JWT_BEARER)}&assertion=${encodeURIComponent(assertion)}`;
    let res;
    try {
      res = await this.post(sa.token_uri, form);
    } catch (err) {
      throw new Error(`token request to ${sa.token_uri} failed: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      throw new Error(`token endpoint ${sa.token_uri} answered ${res.statusCode}: ${text.slice(0, 200)}`);
    }
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`token endpoint ${sa.token_uri} answered invalid JSON`);
    }
    if (!json || typeof json.access_token !== 'string' || !json.access_token) {
      throw new Error('failed to get google oauth token: no access_token in the token response');
    }
    const ttl = tokenTtl(typeof json.expires_in === 'number' ? json.expires_in : Number(json.expires_in) || undefined, conf);
    if (ttl > 0) {
      const cache = this.cache;
      if (cache.size >= MAX_CACHE_ENTRIES) {
        const now = Date.now();
        for (const [k, v] of cache) if (v.expiresAt <= now) cache.delete(k);
        if (cache.size >= MAX_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
      }
      cache.set(cacheKey, { token: json.access_token, expiresAt: Date.now() + ttl * 1000 });
    }
    return json.access_token;
  }
}
