// `auth.aws` (R-BDR-1): each attempt is signed with AWS Signature Version 4
// by @smithy/signature-v4 (the AWS SDK's signer), over the exact bytes and
// path sent. Keys may be `$env://` references, resolved at signing time.
// The signer is loaded when the first bedrock instance compiles, not at
// start (it costs a worker ~15 MB and a few hundred ms to load).
import type { SignatureV4 } from '@smithy/signature-v4';
import { isSecretRef, resolveSecret } from '../../core/secrets.js';
import type { ProviderAuth, UpstreamTarget } from './types.js';

export interface AwsAuthConf {
  access_key_id: string;
  secret_access_key: string;
  session_token?: string;
}

type SignerInit = ConstructorParameters<typeof SignatureV4>[0];

let signerModule: Promise<(init: Omit<SignerInit, 'sha256'>) => SignatureV4> | undefined;
function loadSigner(): Promise<(init: Omit<SignerInit, 'sha256'>) => SignatureV4> {
  signerModule ??= Promise.all([import('@smithy/signature-v4'), import('@smithy/core/serde')]).then(([sv4, serde]) => {
    // the SHA-256 of node:crypto, in the constructor shape the signer takes
    const sha256 = serde.Hash.bind(null, 'sha256') as unknown as NonNullable<SignerInit['sha256']>;
    return (init) => new sv4.SignatureV4({ ...init, sha256 });
  });
  return signerModule;
}

/** the headers the signer adds; everything else the attempt sends stays unsigned but for host and content-type */
const SIGNED_OUT = ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'] as const;

export class AwsSigV4Auth implements ProviderAuth {
  private readonly signer: Promise<SignatureV4>;

  constructor(conf: AwsAuthConf, region: string, service: string) {
    const refs = isSecretRef(conf.access_key_id) || isSecretRef(conf.secret_access_key) || (conf.session_token !== undefined && isSecretRef(conf.session_token));
    const fixed = { accessKeyId: conf.access_key_id, secretAccessKey: conf.secret_access_key, sessionToken: conf.session_token };
    this.signer = loadSigner().then((make) => make({
      service,
      region,
      credentials: refs
        ? async () => ({ accessKeyId: resolveSecret(conf.access_key_id), secretAccessKey: resolveSecret(conf.secret_access_key), sessionToken: conf.session_token === undefined ? undefined : resolveSecret(conf.session_token) })
        : fixed,
    }));
    // a load failure is reported by the attempt that awaits it
    this.signer.catch(() => {});
  }

  async authorize(headers: Record<string, string | string[]>, payload: Buffer | string, target: UpstreamTarget): Promise<void> {
    const q = target.pathWithQuery.indexOf('?');
    const query: Record<string, string> = {};
    if (q >= 0) for (const [k, v] of new URLSearchParams(target.pathWithQuery.slice(q + 1))) query[k] = v;
    const ct = headers['content-type'];
    const signed = await (await this.signer).sign({
      method: 'POST',
      protocol: `${target.scheme}:`,
      hostname: target.host,
      port: target.port,
      path: q >= 0 ? target.pathWithQuery.slice(0, q) : target.pathWithQuery,
      query,
      headers: { host: target.hostHeader, 'content-type': Array.isArray(ct) ? ct[0]! : ct ?? 'application/json' },
      body: payload,
    });
    for (const k of SIGNED_OUT) {
      const v = signed.headers[k];
      if (v !== undefined) headers[k] = v;
    }
  }
}
