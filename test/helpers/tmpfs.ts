// A tiny tmpfs for disk-full and read-only drills (needs root: mount(8)).
// `mountTmpfs()` resolves to undefined, with the reason in `skipReason`, when
// mounting is refused, so a test can skip with that reason.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, ftruncateSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** fill the free space with a file; `leaveBytes` (rounded to pages) stay free */
  fill(leaveBytes?: number): void;
  /** delete the filler */
  unfill(): void;
  remount(mode: 'ro' | 'rw'): void;
  unmount(): void;
}

export let skipReason = '';

export function mountTmpfs(size = '64k'): Tmpfs | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    skipReason = `cannot mount a tmpfs (needs root and mount(8)): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill(leaveBytes = 0) {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(4096, 120);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      if (leaveBytes > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - Math.ceil(leaveBytes / 4096) * 4096));
      closeSync(fd);
    },
    unfill() {
      rmSync(filler, { force: true });
    },
    remount(mode) {
      execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' });
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } catch { /* already gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
