#!/usr/bin/env node
// The switchyard CLI: start | validate | version | sync | dump (CONTRACT).
import { VERSION } from '../core/version.js';
import { USAGE, UsageError, usageError } from './args.js';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'start':
      // before the modules that serve requests are loaded and optimised
      (await import('../core/v8-tuning.js')).applyV8Tuning();
      return (await import('./start.js')).runStart(rest);
    case 'validate':
      return (await import('./validate.js')).runValidate(rest);
    case 'version':
    case '--version':
    case '-v':
      if (rest.length) return usageError(`unexpected argument: ${rest[0]}`);
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'sync':
      return (await import('./sync.js')).runSync(rest);
    case 'dump':
      return (await import('./dump.js')).runDump(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case undefined:
      return usageError('missing command');
    default:
      return usageError(`unknown command: ${cmd}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    if (err instanceof UsageError) process.exit(usageError(err.message));
    process.stderr.write(`switchyard: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
