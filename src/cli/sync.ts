// `switchyard sync -f FILE [-f FILE...] [-c CONFIG] [--format adc|standalone] [--dry-run]`
// (CONTRACT, R-DECL-30). Exit 0 on success (or no changes), 1 on any error
// (nothing written), 2 on a usage error.
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { SyncError, sync, targetFromConfig, type Target } from '../declarative/sync.js';
import { USAGE, parseOptions } from './args.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export function runSync(argv: string[]): Promise<number> {
  return syncMain(argv, processIo);
}

/** the command with its output streams injectable (tests run it in-process) */
export async function syncMain(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv, {
      file: { type: 'string', short: 'f', multiple: true },
      config: { type: 'string', short: 'c' },
      format: { type: 'string' },
      'dry-run': { type: 'boolean' },
      // escape hatches (not in the contract): talk to another Admin API
      server: { type: 'string' },
      token: { type: 'string' },
    });
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  const files = opts.file ?? [];
  if (files.length === 0) return usage(io, 'sync: missing -f FILE');
  if (opts.format !== undefined && opts.format !== 'adc' && opts.format !== 'standalone') {
    return usage(io, `sync: --format must be adc or standalone, got "${opts.format}"`);
  }
  let target: Target;
  try {
    target = opts.server
      ? { url: opts.server.replace(/\/+$/, ''), key: opts.token }
      : targetFromConfig(opts.config ?? DEFAULT_CONFIG_FILE);
    if (opts.token !== undefined) target.key = opts.token;
  } catch (err) {
    io.err(`switchyard sync: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    await sync({ files, format: opts.format as 'adc' | 'standalone' | undefined, dryRun: opts['dry-run'] === true, target, env, out: (l) => io.out(l + '\n') });
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

/** a usage error: the problem and the usage text, exit code 2 */
export function usage(io: Io, message: string): number {
  io.err(`switchyard: ${message}\n${USAGE}\n`);
  return 2;
}
