// `switchyard dump [-c CONFIG] [-o FILE] [--format adc|standalone]` (CONTRACT,
// R-DECL-31): the running configuration as a file `sync` reads back with no
// changes. ADC YAML; when some resource has no ADC form (e.g. a Route without
// a Service, created through the Admin API) the whole dump is APISIX
// standalone YAML instead, with a warning on stderr. `-h` prints the usage.
// The file holds provider keys and consumer credentials, so it is written
// owner-only (0600, R-SEC-10), also when it already existed with a wider mode.
import { chmodSync, writeFileSync } from 'node:fs';
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
    if (opts.output) writeOwnerOnly(opts.output, result.text);
    else io.out(result.text);
    return 0;
  } catch (err) {
    io.err(`switchyard dump: ${(err as Error).message}\n`);
    return 1;
  }
}

/** writes `text` to `file` readable by its owner only (0600, R-SEC-10): the
 *  mode is set before the secrets are written, whether or not the file existed */
function writeOwnerOnly(file: string, text: string): void {
  writeFileSync(file, '', { mode: 0o600 });
  chmodSync(file, 0o600);
  writeFileSync(file, text);
}
