// `switchyard validate [-c FILE]`: the start-up checks of conf/config.yaml
// without starting anything (R-GEN-12). Exit 0 when valid, 1 when not.
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import { USAGE, configOption, parseOptions } from './args.js';

export async function runValidate(argv: string[]): Promise<number> {
  const opts = parseOptions(argv, configOption);
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = opts.config ?? DEFAULT_CONFIG_FILE;
  try {
    const { warnings } = loadConfig(file);
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(`${file}: ok\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`switchyard: invalid configuration ${file}: ${(err as Error).message}\n`);
    return 1;
  }
}
