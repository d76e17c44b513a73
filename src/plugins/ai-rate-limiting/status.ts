// What an ai-rate-limiting configuration has used, holds in reserve and has
// left, read from its counters without charging anything (the dashboard,
// R-UI-1). Instance quotas (R-RL-3) are one row per instance; rules (R-RL-20)
// are one row per rule and consumer, their key rendered with that consumer's
// name. A limit given as a template that needs the request reads as null.
import type { RequestContext } from '../../core/types.js';
import { instanceKey, quotaFor, resolveNum, resolveRules, ruleKey, type CompiledRateLimit } from './index.js';

export interface QuotaRow {
  instance: string | null;
  /** 1-based rule index (rules only) */
  rule: number | null;
  consumer: string | null;
  strategy: string;
  limit: number | null;
  window_s: number | null;
  used: number;
  /** tokens held by admitted requests still in flight (R-QTA-1), when the state keeps it */
  reserved: number | null;
  remaining: number | null;
  /** seconds until the window ends; null when no window runs */
  reset_in_s: number | null;
  error?: string;
}

type VarSource = Pick<RequestContext, 'getVar'>;

function varsFor(consumer: string | undefined): VarSource {
  return {
    getVar: (n: string) => (consumer !== undefined && (n === 'consumer_name' || n === 'consumer')) ? consumer : undefined,
  } as VarSource;
}

async function row(
  c: CompiledRateLimit,
  key: string,
  base: Omit<QuotaRow, 'used' | 'reserved' | 'remaining' | 'reset_in_s' | 'strategy'>,
): Promise<QuotaRow> {
  const out: QuotaRow = { ...base, strategy: c.strategy, used: 0, reserved: null, remaining: null, reset_in_s: null };
  try {
    const w = (await c.state.peek(key)) as { used: number; resetIn?: number; reserved?: unknown };
    out.used = w.used;
    out.reset_in_s = w.resetIn ?? null;
    if (typeof w.reserved === 'number' && Number.isFinite(w.reserved)) out.reserved = w.reserved;
    // a state that keeps reservations leaves `reserved` out when it is 0
    else if (typeof (c.state as { reserve?: unknown }).reserve === 'function') out.reserved = 0;
  } catch (err) {
    out.error = `counter unavailable: ${(err as Error)?.message ?? err}`;
  }
  if (out.limit !== null) out.remaining = Math.max(0, out.limit - out.used - (out.reserved ?? 0));
  return out;
}

/**
 * Rows of one compiled configuration. `instances`: the instance names it can
 * apply to; `consumers`: whose names rule keys are rendered with (a
 * consumer-level configuration passes its own consumer).
 */
export async function quotaRows(c: CompiledRateLimit, instances: readonly string[], consumers: readonly (string | undefined)[]): Promise<QuotaRow[]> {
  const rows: Promise<QuotaRow>[] = [];
  if (c.rules) {
    const seen = new Set<string>();
    for (const consumer of consumers.length ? consumers : [undefined]) {
      for (const r of resolveRules(c, varsFor(consumer))) {
        const key = ruleKey(c, r);
        if (seen.has(key)) continue;
        seen.add(key);
        // a key that does not name the consumer is shared by every consumer
        const named = consumer !== undefined && r.key.includes(consumer);
        rows.push(row(c, key, { instance: null, rule: r.rule.index, consumer: named ? consumer! : null, limit: r.count, window_s: r.window }));
      }
    }
  } else {
    const consumer = consumers.length === 1 ? consumers[0] ?? null : null;
    const names = new Set<string>(instances);
    for (const n of c.instances.keys()) names.add(n);
    for (const name of names) {
      const q = quotaFor(c, name);
      if (!q) continue;
      const vars = varsFor(consumer ?? undefined);
      rows.push(row(c, instanceKey(c, name), {
        instance: name,
        rule: null,
        consumer,
        limit: resolveNum(q.limit, vars) ?? null,
        window_s: resolveNum(q.window, vars) ?? null,
      }));
    }
  }
  return Promise.all(rows);
}
