// Figures of a process and its descendants (cluster workers) from /proc, for
// the measuring scripts (npm run bench, npm run soak). Linux only.
import { readFileSync, readdirSync } from 'node:fs';

/** the process and its descendants */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (out.includes(ppid) && !out.includes(Number(d))) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

export interface TreeStats {
  /** CPU seconds (user + system) */
  cpuS: number;
  /** resident set size, MB */
  rssMb: number;
  /** open file descriptors */
  fds: number;
}

/** summed over the process and its descendants; a process that went away meanwhile counts 0 */
export function treeStats(pid: number): TreeStats {
  let cpuS = 0;
  let kb = 0;
  let fds = 0;
  for (const p of processTree(pid)) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      cpuS += (Number(fields[11]) + Number(fields[12])) / 100;
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
      fds += readdirSync(`/proc/${p}/fd`).length;
    } catch { /* gone */ }
  }
  return { cpuS, rssMb: kb / 1024, fds };
}

/**
 * the machine's CPU time by kind, in clock ticks (USER_HZ, 100 a second), from
 * the first line of /proc/stat: user nice system idle iowait irq softirq steal …
 */
export function machineCpuTicks(): number[] {
  return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
}
