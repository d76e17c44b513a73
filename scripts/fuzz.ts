// npm run fuzz -- [--runs N] [--seed S] [--suite NAME]: runs the property
// suites of test/fuzz/ with N cases per property (one seed: S, or a random
// printed one), then prints the total cases and failures from the report
// lines the properties write (test/fuzz/params.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(opt('runs') ?? 1000);
const seed = Number(opt('seed') ?? ((Math.random() * 0x7fffffff) | 0));
const suite = opt('suite');
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: npm run fuzz -- [--runs N] [--seed S] [--suite sse|expressions|admin|framing]');
  process.exit(2);
}
const dir = path.join(root, 'dist/test/fuzz');
const files = readdirSync(dir).filter((f) => f.endsWith('.test.js') && (!suite || f.startsWith(suite))).map((f) => path.join(dir, f));
const report = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-fuzz-')), 'report.jsonl');
console.log(`fuzz: ${runs} cases per property, seed ${seed}, ${files.length} suites; report ${report}`);
const t0 = Date.now();
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_SEED: String(seed), FUZZ_REPORT: report },
});
const lines = existsSync(report) ? readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
let total = 0;
let failed = 0;
for (const l of lines) {
  total += l.runs;
  if (!l.ok) failed++;
  console.log(`  ${l.ok ? 'ok  ' : 'FAIL'} ${l.suite} / ${l.property}: ${l.runs} cases in ${l.ms} ms`);
}
console.log(`fuzz: ${total} cases in ${lines.length} properties, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s (seed ${seed})`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
