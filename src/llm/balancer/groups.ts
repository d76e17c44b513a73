// Priority groups over the health-filtered candidate set (R-BAL-2, R-BAL-3),
// each with its own picker (R-BAL-4..8). Rebuilt (state reset) whenever the
// health status version changes.
import { createPicker, type Picker } from './index.js';

export interface Member {
  index: number;
  name: string;
  priority: number;
  weight: number;
}

export interface HealthView {
  isHealthy(name: string): boolean;
  readonly version: number;
}

interface Group {
  members: Member[];
  picker: Picker;
}

const EMPTY: ReadonlySet<number> = new Set();

export class GroupSelector {
  private version = -1;
  private groups: Group[] = [];

  constructor(
    private readonly members: Member[],
    private readonly algorithm: 'roundrobin' | 'chash',
    private readonly health?: HealthView,
  ) {}

  private current(): Group[] {
    const v = this.health ? this.health.version : 0;
    if (v !== this.version || this.groups.length === 0) {
      this.version = v;
      let cands = this.members;
      if (this.health) {
        const h = this.health;
        const healthy = this.members.filter((m) => h.isHealthy(m.name));
        cands = healthy.length > 0 ? healthy : this.members; // R-BAL-3 "use default"
      }
      const byPrio = new Map<number, Member[]>();
      for (const m of cands) {
        const g = byPrio.get(m.priority);
        if (g) g.push(m);
        else byPrio.set(m.priority, [m]);
      }
      this.groups = [...byPrio.entries()]
        .sort((a, b) => b[0] - a[0])
        .map(([, ms]) => ({ members: ms, picker: createPicker(this.algorithm, ms.map((m) => m.name), ms.map((m) => m.weight)) }));
    }
    return this.groups;
  }

  /** number of priority groups in the current candidate set (R-BAL-9 wording) */
  groupCount(): number {
    return this.current().length;
  }

  /** next member not in `tried` (global indexes), highest priority first; undefined when exhausted */
  pick(tried: ReadonlySet<number>, key?: string): Member | undefined {
    for (const g of this.current()) {
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
