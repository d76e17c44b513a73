// Polling helpers shared by the tests: every wait is bounded.
import type { Logger } from '../../src/core/log.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `cond` (sync or async) every `stepMs` until it holds; throws after
 * `timeoutMs`. Resolves to the milliseconds it took.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
  what = 'condition',
  stepMs = 10,
): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
  return Date.now() - start;
}

/** a Logger that keeps its lines (`[<level>] <message>`) for assertions */
export function memLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => void lines.push(`[${level}] ${m}`);
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}
