// `switchyard sync -f FILE [-f FILE...] [-c CONFIG] [--format adc|standalone] [--dry-run]`
// (CONTRACT, R-DECL-30). Exit 0 on success (or no changes), 1 on any error
// (nothing written), 2 on a usage error.
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { SyncError, sync, targetFromConfig, type Target } from '../declarative/sync.js';
import { parseOptions, usageError } from './args.js';

export async function runSync(argv: string[]): Promise<number> {
  const opts = parseOptions(argv, {
    file: { type: 'string', short: 'f', multiple: true },
    config: { type: 'string', short: 'c' },
    format: { type: 'string' },
    'dry-run': { type: 'boolean' },
    // escape hatches (not in the contract): talk to another Admin API
    server: { type: 'string' },
    token: { type: 'string' },
  });
  const files = opts.file ?? [];
  if (files.length === 0) return usageError('sync: missing -f FILE');
  if (opts.format !== undefined && opts.format !== 'adc' && opts.format !== 'standalone') {
    return usageError(`sync: --format must be adc or standalone, got "${opts.format}"`);
  }
  let target: Target;
  try {
    target = opts.server
      ? { url: opts.server.replace(/\/+$/, ''), key: opts.token }
      : targetFromConfig(opts.config ?? DEFAULT_CONFIG_FILE);
    if (opts.token !== undefined) target.key = opts.token;
  } catch (err) {
    process.stderr.write(`switchyard sync: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    await sync({ files, format: opts.format as 'adc' | 'standalone' | undefined, dryRun: opts['dry-run'] === true, target });
    return 0;
  } catch (err) {
    if (err instanceof SyncError) {
      for (const e of err.errors) process.stderr.write(`switchyard sync: ${e}\n`);
      if (err.phase === 'validate') process.stderr.write('switchyard sync: nothing was applied\n');
    } else {
      process.stderr.write(`switchyard sync: ${(err as Error).message}\n`);
    }
    return 1;
  }
}
