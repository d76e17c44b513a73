// Run parameters of the property-based fuzz suites (fast-check).
//
// In `npm test` (CI) every property runs twice: once with a fixed seed, once
// with a random seed that is printed, so a failure can be replayed with
// FUZZ_SEED=<seed>. `npm run fuzz -- --runs N [--seed S]` (scripts/fuzz.ts)
// sets FUZZ_RUNS / FUZZ_SEED for longer campaigns. When FUZZ_REPORT names a
// file, each property appends one JSON line {suite, property, seed, runs,
// ok} to it: the campaign's figure is the sum of those lines.
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

export const FIXED_SEED = 20261204;

export interface RunSpec {
  seed: number;
  numRuns: number;
  label: string;
}

/** the (seed, runs) pairs one property runs with; `ciRuns` is the bounded count for npm test */
export function runSpecs(ciRuns: number, maxRuns = Infinity): RunSpec[] {
  const asked = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
  const runs = asked === undefined ? undefined : Math.min(asked, maxRuns);
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
  if (seed !== undefined) return [{ seed, numRuns: runs ?? ciRuns, label: `seed ${seed}` }];
  const random = (Math.random() * 0x7fffffff) | 0;
  return [
    { seed: FIXED_SEED, numRuns: runs ?? ciRuns, label: `fixed seed ${FIXED_SEED}` },
    { seed: random, numRuns: runs ?? ciRuns, label: `random seed ${random}` },
  ];
}

/** runs `prop` once per run spec (sync or async property), printing the seeds, recording the figure */
export async function check<Ts extends [unknown, ...unknown[]]>(
  suite: string,
  name: string,
  ciRuns: number,
  prop: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  diag: (msg: string) => void = (m) => console.log(m),
  /** a cap on FUZZ_RUNS for a property whose case costs far more than the others' */
  maxRuns = Infinity,
): Promise<void> {
  for (const spec of runSpecs(ciRuns, maxRuns)) {
    diag(`fuzz ${suite} / ${name}: ${spec.numRuns} cases, ${spec.label} (replay: FUZZ_SEED=${spec.seed} FUZZ_RUNS=${spec.numRuns})`);
    const t0 = Date.now();
    let ok = false;
    try {
      await fc.assert(prop as fc.IAsyncProperty<Ts>, { seed: spec.seed, numRuns: spec.numRuns });
      ok = true;
    } catch (e) {
      // fast-check keeps the property's own failure as the cause: show it
      const cause = (e as { cause?: unknown }).cause;
      if (cause instanceof Error) (e as Error).message += `\ncaused by: ${cause.message}`;
      throw e;
    } finally {
      if (process.env.FUZZ_REPORT) {
        appendFileSync(process.env.FUZZ_REPORT, JSON.stringify({ suite, property: name, seed: spec.seed, runs: spec.numRuns, ok, ms: Date.now() - t0 }) + '\n');
      }
    }
  }
}
