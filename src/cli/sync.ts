// `switchyard sync -f FILE [-f FILE...] [-c CONFIG] [--format adc|standalone] [--dry-run]`
// (CONTRACT, R-DECL-30). Exit 0 on success (or no changes), 1 on any error
// (nothing written), 2 on a usage error; `-h` prints the usage and exits 0.
import { SyncError, sync, targetFromOptions, type Target } from '../declarative/sync.js';
import { parseOptions, printUsage, processIo, usageError, type Io } from './args.js';

export type { Io };

/** the options sync and dump share: where the Admin API is, and the file format */
export const targetOptions = {
  config: { type: 'string', short: 'c' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  // escape hatches (not in the contract): talk to another Admin API
  server: { type: 'string' },
  token: { type: 'string' },
} as const;

/** the problem with --format, if any */
export function formatError(cmd: string, format: string | undefined): string | undefined {
  if (format === undefined || format === 'adc' || format === 'standalone') return undefined;
  return `${cmd}: --format must be adc or standalone, got "${format}"`;
}

export function runSync(argv: string[]): Promise<number> {
  return syncMain(argv, processIo);
}

/** the command with its output streams injectable (tests run it in-process) */
export async function syncMain(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv, {
      ...targetOptions,
      file: { type: 'string', short: 'f', multiple: true },
      'dry-run': { type: 'boolean' },
    });
  } catch (err) {
    return usageError((err as Error).message, io);
  }
  if (opts.help) return printUsage(io);
  const files = opts.file ?? [];
  if (files.length === 0) return usageError('sync: missing -f FILE', io);
  const bad = formatError('sync', opts.format);
  if (bad) return usageError(bad, io);
  let target: Target;
  try {
    target = targetFromOptions(opts);
  } catch (err) {
    io.err(`switchyard sync: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    await sync({ files, format: opts.format as 'adc' | 'standalone' | undefined, dryRun: opts['dry-run'] === true, target, env, out: (l) => io.out(l + '\n'), warn: (l) => io.err(`switchyard sync: warning: ${l}\n`) });
    return 0;
  } catch (err) {
    if (err instanceof SyncError) {
      for (const e of err.errors) io.err(`switchyard sync: ${e}\n`);
      if (err.phase === 'validate') io.err('switchyard sync: nothing was applied\n');
    } else {
      io.err(`switchyard sync: ${(err as Error).message}\n`);
    }
    return 1;
  }
}
