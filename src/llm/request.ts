// The outgoing request of one attempt: body (R-REQ-4, R-REQ-5, R-REQ-9,
// R-PRV-5) and headers (R-REQ-7).
import { resolveSecret } from '../core/secrets.js';
import { getProtocol, type LlmProtocol, type Protocol } from './protocols/index.js';
import type { CompiledInstance } from './instance.js';
import { applyOverride } from './body-override.js';
import { topLevelMemberCount } from './json-scan.js';

/**
 * R-REQ-7 step 2, plus `expect` (curl sends `Expect: 100-continue` for
 * bodies over 1 KiB; the body is already read, and undici refuses the header)
 */
const SKIP_HEADERS = new Set([
  'host', 'content-length', 'accept-encoding', 'connection', 'keep-alive', 'proxy-connection',
  'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect',
]);

/**
 * `{ ...o }` for a parsed JSON body: a for-in copy is about twice as fast as
 * the spread on such objects (whose prototype is Object.prototype, so for-in
 * sees the own keys only, in the same order). An own `__proto__` key (JSON
 * allows it) would set the prototype by assignment: that case keeps the spread.
 */
function copyBody(o: Record<string, unknown>): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const k in o) {
    if (k === '__proto__') return { ...o };
    r[k] = o[k];
  }
  return r;
}

/**
 * The body already has every option, with the same primitive value, as an
 * own member, and `raw` (the bytes it was parsed from) repeats no member:
 * merging the options would change nothing. A request that names the model
 * the instance sets is then forwarded as the client's bytes, without a copy
 * and a JSON.stringify. A repeated member (`{"model":"a","model":"b"}`, a
 * key also spelled with escapes) is re-serialised: JSON.parse kept the last
 * one, an upstream's parser might keep the first, and the option must win.
 */
function holdsOptions(base: Record<string, unknown>, entries: CompiledInstance['primitiveOptions'], raw: Buffer | undefined): boolean {
  if (entries === undefined || raw === undefined) return false;
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i]!;
    if (base[k] !== v || !Object.prototype.hasOwnProperty.call(base, k)) return false;
  }
  let members = 0;
  for (const k in base) if (Object.prototype.hasOwnProperty.call(base, k)) members++;
  return topLevelMemberCount(raw) === members;
}

/**
 * The outgoing body object for one attempt, starting from the (possibly
 * converted) client body, which is never modified. Returns the same object
 * when nothing changes (the client's bytes are then sent as they came).
 * `raw`: the bytes `base` was parsed from, when it is the client's body.
 */
export function buildBody(
  base: Record<string, unknown>,
  inst: Pick<CompiledInstance, 'options' | 'provider' | 'bodyOverride'> & Partial<Pick<CompiledInstance, 'primitiveOptions'>>,
  target: Protocol | LlmProtocol,
  raw?: Buffer,
): Record<string, unknown> {
  const proto = typeof target === 'string' ? getProtocol(target) : target;
  let out = base;
  if (inst.options && !holdsOptions(base, inst.primitiveOptions, raw)) out = Object.assign(copyBody(base), inst.options);
  out = proto.prepareOutgoingRequest(out, base);
  // R-CAP-4, after the protocol's own rules as in APISIX
  if (inst.bodyOverride !== undefined) out = applyOverride(out, base, inst.bodyOverride, inst.provider, proto);
  if (inst.provider.removeModel && 'model' in out) {
    if (out === base) out = { ...base };
    delete out.model;
  }
  return out;
}

/** the headers sent upstream (R-REQ-7 steps 1-4); the provider's auth adds its own */
export function buildHeaders(clientHeaders: Record<string, string | string[] | undefined>, inst: Pick<CompiledInstance, 'authHeaders' | 'hasSecretRefs'>): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = {};
  for (const k in clientHeaders) {
    const v = clientHeaders[k];
    if (v === undefined || SKIP_HEADERS.has(k)) continue;
    h[k] = v;
  }
  const auth = inst.authHeaders;
  for (let i = 0; i < auth.length; i++) {
    const [k, v] = auth[i]!;
    h[k] = inst.hasSecretRefs ? resolveSecret(v) : v;
  }
  h['content-type'] = 'application/json';
  return h;
}
