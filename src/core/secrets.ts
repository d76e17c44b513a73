// `$ENV://NAME` and `$ENV://NAME/SUBKEY` references (R-SEC-1, R-SEC-2),
// resolved when used. An unresolvable reference is used literally.
const PREFIX = /^\$env:\/\//i;

export function isSecretRef(value: string): boolean {
  return PREFIX.test(value);
}

export function resolveSecret(value: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!PREFIX.test(value)) return value;
  const ref = value.replace(PREFIX, '');
  const slash = ref.indexOf('/');
  const name = slash < 0 ? ref : ref.slice(0, slash);
  const raw = env[name];
  if (raw === undefined) return value;
  if (slash < 0) return raw;
  try {
    const obj = JSON.parse(raw) as Record<string, unknown>;
    const sub = obj?.[ref.slice(slash + 1)];
    return typeof sub === 'string' ? sub : sub === undefined ? value : String(sub);
  } catch {
    return value;
  }
}
