// R-CAP-4 (APISIX 3.18): `override.llm_options.max_tokens`, written under the
// provider's field name for the target protocol, and
// `override.request_body.<protocol>`, deep-merged into the outgoing body with
// APISIX's rules (ai-proxy/merge.lua): objects on both sides merge
// recursively, anything else (scalars, arrays, a type mismatch) is a
// conflict, which keeps the client's value unless
// `request_body_force_override` is true. Compiled once per configuration.
import type { LlmProtocol, Protocol } from './protocols/index.js';
import type { ProviderDef } from './providers/index.js';

export interface CompiledOverride {
  maxTokens?: number;
  requestBody?: Partial<Record<Protocol, Record<string, unknown>>>;
  force: boolean;
}

export function compileOverride(override: any): CompiledOverride | undefined {
  const max = override?.llm_options?.max_tokens;
  const rb = override?.request_body;
  const hasBody = rb !== null && typeof rb === 'object' && Object.keys(rb).length > 0;
  if (typeof max !== 'number' && !hasBody) return undefined;
  return { maxTokens: typeof max === 'number' ? max : undefined, requestBody: hasBody ? rb : undefined, force: override.request_body_force_override === true };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `patch` merged into `target` (which is not modified: objects on the way
 * are copied, so the client body shared by every attempt stays intact)
 */
export function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>, force: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const k of Object.keys(patch)) {
    if (k === '__proto__') continue;
    const v = patch[k];
    const t = out[k];
    if (isObject(v) && isObject(t)) out[k] = deepMerge(t, v, force);
    else if (t === undefined || force) out[k] = v;
  }
  return out;
}

/** the field path of the completion bound: the provider's for this protocol, else `max_tokens` */
export function maxTokensPath(provider: ProviderDef, proto: LlmProtocol): readonly string[] | undefined {
  const own = provider.maxTokensField?.[proto.name];
  if (own !== undefined) return own ?? undefined;
  return proto.noMaxTokens ? undefined : DEFAULT_PATH;
}
const DEFAULT_PATH = ['max_tokens'] as const;

/** the body with the instance's overrides; `out` may be `base`, which is never modified */
export function applyOverride(out: Record<string, unknown>, base: Record<string, unknown>, ov: CompiledOverride, provider: ProviderDef, proto: LlmProtocol): Record<string, unknown> {
  if (ov.maxTokens !== undefined) {
    const path = maxTokensPath(provider, proto);
    if (path !== undefined) {
      // the client's own bound (under either name) wins unless forced
      const clientSet = out.max_tokens !== undefined || getPath(out, path) !== undefined;
      if (ov.force || !clientSet) {
        out = deepMerge(out, nest(path, ov.maxTokens), true);
        if (path.length !== 1 || path[0] !== 'max_tokens') delete out.max_tokens;
      }
    }
  }
  const patch = ov.requestBody?.[proto.name];
  if (patch !== undefined) out = deepMerge(out, patch, ov.force);
  return out;
}

function getPath(o: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = o;
  for (const k of path) {
    if (!isObject(v)) return undefined;
    v = v[k];
  }
  return v;
}

function nest(path: readonly string[], value: unknown): Record<string, unknown> {
  let v: unknown = value;
  for (let i = path.length - 1; i >= 0; i--) v = { [path[i]!]: v };
  return v as Record<string, unknown>;
}
