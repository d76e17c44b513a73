// The difference between the declared resources and the running ones, as an
// ordered plan that never leaves a dangling reference (R-DECL-30):
//   1. delete global rules no longer declared (a plugin may move to a rule
//      with another id, and a plugin lives in one global rule only)
//   2. create/update: upstreams, services, routes, consumers, credentials,
//      global rules (referenced things first)
//   3. delete the rest in reverse: routes, services, upstreams, credentials,
//      consumers
// Unchanged resources are not in the plan (they are not rewritten).
import { APPLY_ORDER, canonical, describe, resourceKey, stripServerFields, type Resource, type ResourceKind } from './model.js';

export type ChangeOp = 'create' | 'update' | 'delete';

export interface Change {
  op: ChangeOp;
  /** the declared resource (create/update) or the running one (delete) */
  resource: Resource;
  /** the running resource before the change (update/delete) */
  previous?: Resource;
}

/** ids written as integers and as strings denote the same item (R-ADM-15) */
function normalized(v: Resource['value']): Resource['value'] {
  const out = stripServerFields(v);
  for (const k of ['id', 'service_id', 'upstream_id']) {
    if (typeof out[k] === 'number') out[k] = String(out[k]);
  }
  return out;
}

export function sameValue(a: Resource['value'], b: Resource['value']): boolean {
  return canonical(normalized(a)) === canonical(normalized(b));
}

const DELETE_ORDER: ResourceKind[] = ['route', 'service', 'upstream', 'credential', 'consumer'];

export function computeDiff(desired: Resource[], current: Resource[]): Change[] {
  const cur = new Map(current.map((r) => [resourceKey(r), r]));
  const want = new Map(desired.map((r) => [resourceKey(r), r]));
  const upserts: Change[] = [];
  for (const r of desired) {
    const prev = cur.get(resourceKey(r));
    if (!prev) upserts.push({ op: 'create', resource: r });
    else if (!sameValue(r.value, prev.value)) upserts.push({ op: 'update', resource: r, previous: prev });
  }
  const deletes: Change[] = [];
  for (const r of current) {
    if (!want.has(resourceKey(r))) deletes.push({ op: 'delete', resource: r, previous: r });
  }
  const rank = (order: ResourceKind[]) => (c: Change) => order.indexOf(c.resource.kind);
  const stable = (list: Change[], f: (c: Change) => number) =>
    list.map((c, i) => ({ c, i })).sort((a, b) => f(a.c) - f(b.c) || a.i - b.i).map((x) => x.c);
  return [
    ...deletes.filter((c) => c.resource.kind === 'global_rule'),
    ...stable(upserts, rank(APPLY_ORDER)),
    ...stable(deletes.filter((c) => c.resource.kind !== 'global_rule'), rank(DELETE_ORDER)),
  ];
}

/** `create route "x"`, `update service "y"`, `delete consumer "z"` */
export function changeLine(c: Change): string {
  return `${c.op} ${describe(c.resource)}`;
}
