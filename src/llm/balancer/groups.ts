// Priority groups (R-BAL-2) over the members, each with its own picker
// (R-BAL-4..8), and what each member may do at the current health version.
//
// roundrobin: the groups are rebuilt (state reset) from the members that are
// not unhealthy whenever that set changes (R-BAL-3, R-HC-10).
// chash: the rings are built once from every member, healthy or not
// (R-BAL-30); an unhealthy member is picked like any other and the caller
// skips it, walking on along the ring, so a health change of one member
// remaps only that member's keys.
//
// In both, a cooling (R-PHC-2) member stays in its group and is skipped by the
// caller, like a rate-limited one (R-FB-2).
import { createPicker, type Picker } from './index.js';
import { ChashPicker } from './chash.js';

export interface Member {
  index: number;
  name: string;
  priority: number;
  weight: number;
}

export interface HealthView {
  isHealthy(name: string): boolean;
  isCooling?(name: string): boolean;
  trialOpen?(name: string): boolean;
  readonly version: number;
}

/** what a picked member may do (availability()) */
export const AVAILABLE = 0;
/** unhealthy: skip it (outcome `unhealthy`) */
export const UNHEALTHY = 1;
/** in a Retry-After cool-down: skip it (outcome `cooling_down`) */
export const COOLING = 2;
/** unhealthy but open for one trial request: usable after claiming the trial (R-PHC-1) */
export const TRIAL = 3;

interface Group {
  members: Member[];
  picker: Picker;
  /** roundrobin: the pickers use local indexes; chash: global ones */
  local: boolean;
}

const EMPTY: ReadonlySet<number> = new Set();

export class GroupSelector {
  private version = -1;
  private groups: Group[] = [];
  /** per member index, at `version` */
  private readonly state: Uint8Array;
  /** roundrobin: the unhealthy set the groups were built without (`0`/`1` per member, as a string) */
  private builtFor = '';
  private readonly byIndex: Member[] = [];

  constructor(
    private readonly members: Member[],
    private readonly algorithm: 'roundrobin' | 'chash',
    private readonly health?: HealthView,
  ) {
    this.state = new Uint8Array(members.reduce((n, m) => Math.max(n, m.index + 1), 0));
    for (const m of members) this.byIndex[m.index] = m;
    if (algorithm === 'chash') this.groups = this.build(members, false);
  }

  private build(cands: Member[], local: boolean): Group[] {
    const byPrio = new Map<number, Member[]>();
    for (const m of cands) {
      const g = byPrio.get(m.priority);
      if (g) g.push(m);
      else byPrio.set(m.priority, [m]);
    }
    return [...byPrio.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([, ms]) => ({
        members: ms,
        local,
        picker: local
          ? createPicker(this.algorithm, ms.map((m) => m.name), ms.map((m) => m.weight))
          : new ChashPicker(ms.map((m) => m.name), ms.map((m) => m.weight), ms.map((m) => m.index)),
      }));
  }

  /** recompute the member states (and the roundrobin groups) when the health version moved */
  private current(): Group[] {
    const h = this.health;
    const v = h ? h.version : 0;
    if (v === this.version && this.groups.length > 0) return this.groups;
    this.version = v;
    const st = this.state;
    let usable = 0;
    for (const m of this.members) {
      let s = AVAILABLE;
      if (h) {
        if (!h.isHealthy(m.name)) s = h.trialOpen?.(m.name) ? TRIAL : UNHEALTHY;
        if (h.isCooling?.(m.name)) s = COOLING;
      }
      st[m.index] = s;
      if (s !== UNHEALTHY) usable++;
    }
    // R-BAL-3 "use default": when every member is unhealthy, all are used
    if (usable === 0) for (const m of this.members) st[m.index] = AVAILABLE;
    if (this.algorithm === 'roundrobin') {
      let key = '';
      for (const m of this.members) key += st[m.index] === UNHEALTHY ? '1' : '0';
      if (key !== this.builtFor || this.groups.length === 0) {
        this.builtFor = key;
        this.groups = this.build(this.members.filter((m) => st[m.index] !== UNHEALTHY), true);
      }
    }
    return this.groups;
  }

  /** number of priority groups (R-BAL-9 wording) */
  groupCount(): number {
    return this.current().length;
  }

  /** what the member of `index` (just picked) may do: AVAILABLE, UNHEALTHY, COOLING or TRIAL */
  availability(index: number): number {
    return this.state[index]!;
  }

  /** next member not in `tried` (global indexes), highest priority first; undefined when exhausted */
  pick(tried: ReadonlySet<number>, key?: string): Member | undefined {
    for (const g of this.current()) {
      if (!g.local) {
        const i = g.picker.pick(tried, key);
        if (i !== undefined) return this.byIndex[i];
        continue;
      }
      let local: ReadonlySet<number> = EMPTY;
      if (tried.size > 0) {
        const s = new Set<number>();
        g.members.forEach((m, i) => { if (tried.has(m.index)) s.add(i); });
        local = s;
        if (s.size === g.members.length) continue;
      }
      const i = g.picker.pick(local, key);
      if (i !== undefined) return g.members[i];
    }
    return undefined;
  }
}

/** R-BAL-9 */
export function exhaustedMessage(groups: number): string {
  return groups > 1 ? 'all servers tried' : 'all upstream servers tried';
}
