// `switchyard dump [-c CONFIG] [-o FILE] [--format adc|standalone]` (CONTRACT,
// R-DECL-31): the running configuration as a file `sync` reads back with no
// changes. ADC YAML; when some resource has no ADC form (e.g. a Route without
// a Service, created through the Admin API) the whole dump is APISIX
// standalone YAML instead, with a warning on stderr. `-h` prints the usage.
import { writeFileSync } from 'node:fs';
import { dump, targetFromOptions } from '../declarative/sync.js';
import { parseOptions, printUsage, processIo, usageError, type Io } from './args.js';
import { formatError, targetOptions } from './sync.js';

export function runDump(argv: string[]): Promise<number> {
  return dumpMain(argv, processIo);
}

/** the command with its output streams injectable (tests run it in-process) */
export async function dumpMain(argv: string[], io: Io): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv, { ...targetOptions, output: { type: 'string', short: 'o' } });
  } catch (err) {
    return usageError((err as Error).message, io);
  }
  if (opts.help) return printUsage(io);
  const bad = formatError('dump', opts.format);
  if (bad) return usageError(bad, io);
  try {
    const result = await dump(targetFromOptions(opts), opts.format as 'adc' | 'standalone' | undefined);
    if (result.format === 'standalone' && opts.format === undefined) {
      io.err(
        `switchyard dump: writing APISIX standalone YAML: some resources have no ADC form (${result.obstacles.slice(0, 3).join('; ')}${result.obstacles.length > 3 ? '; ...' : ''})\n`,
      );
    }
    if (opts.output) writeFileSync(opts.output, result.text);
    else io.out(result.text);
    return 0;
  } catch (err) {
    io.err(`switchyard dump: ${(err as Error).message}\n`);
    return 1;
  }
}
