// `switchyard dump [-c CONFIG] [-o FILE] [--format adc|standalone]` (CONTRACT,
// R-DECL-31): the running configuration as a file `sync` reads back with no
// changes. ADC YAML; when some resource has no ADC form (e.g. a Route without
// a Service, created through the Admin API) the whole dump is APISIX
// standalone YAML instead, with a warning on stderr.
import { writeFileSync } from 'node:fs';
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { dump, targetFromConfig, type Target } from '../declarative/sync.js';
import { parseOptions } from './args.js';
import { usage, type Io } from './sync.js';

export function runDump(argv: string[]): Promise<number> {
  return dumpMain(argv, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
}

/** the command with its output streams injectable (tests run it in-process) */
export async function dumpMain(argv: string[], io: Io): Promise<number> {
  let opts;
  try {
    opts = parseOptions(argv, {
      config: { type: 'string', short: 'c' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
    });
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  if (opts.format !== undefined && opts.format !== 'adc' && opts.format !== 'standalone') {
    return usage(io, `dump: --format must be adc or standalone, got "${opts.format}"`);
  }
  try {
    const target: Target = opts.server
      ? { url: opts.server.replace(/\/+$/, ''), key: opts.token }
      : targetFromConfig(opts.config ?? DEFAULT_CONFIG_FILE);
    if (opts.token !== undefined) target.key = opts.token;
    const result = await dump(target, opts.format as 'adc' | 'standalone' | undefined);
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
