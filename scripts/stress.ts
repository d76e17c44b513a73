// npm run test:stress -- [--rounds N] [--hogs H]: the whole suite under CPU
// contention (issue 16). H busy-loop processes (default: one per core, each
// pinned to its core with taskset when it is installed) run while the suite
// runs N times in a row (default 5); it stops at the first failing round.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const rounds = opt('rounds', 5);
const cores = availableParallelism();
const hogCount = opt('hogs', cores);
const taskset = spawnSync('taskset', ['--version']).status === 0;

const hogs: ChildProcess[] = [];
for (let i = 0; i < hogCount; i++) {
  const cmd = [process.execPath, '-e', 'for(;;){}'];
  const p = taskset ? spawn('taskset', ['-c', String(i % cores), ...cmd], { stdio: 'ignore' }) : spawn(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
  hogs.push(p);
}
const stopHogs = () => { for (const h of hogs) h.kill('SIGKILL'); };
process.on('exit', stopHogs);
process.on('SIGINT', () => process.exit(130));
console.log(`test:stress: ${hogCount} busy loops${taskset ? ' pinned one per core' : ''}, ${rounds} rounds of the whole suite`);

let passed = 0;
for (let r = 1; r <= rounds; r++) {
  const t0 = Date.now();
  const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=dot', path.join(root, 'dist/test/')], { stdio: 'inherit', cwd: root });
  const s = ((Date.now() - t0) / 1000).toFixed(0);
  if (res.status !== 0) {
    console.log(`test:stress: round ${r} FAILED after ${s} s (${passed} rounds passed before it)`);
    process.exit(1);
  }
  passed++;
  console.log(`test:stress: round ${r} passed in ${s} s`);
}
console.log(`test:stress: ${passed} rounds in a row passed under load`);
// the busy loops are children that keep this process alive: end them and exit
process.exit(0);
