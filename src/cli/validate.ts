// `switchyard validate [-c FILE]`: the start-up checks of conf/config.yaml
// without starting anything (R-GEN-12); in standalone mode (R-SA-1) also the
// checks conf/apisix.yaml must pass to be served. Exit 0 when valid, 1 when not.
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { loadStandaloneFile } from '../declarative/standalone-store.js';
import { USAGE, configOption, parseOptions } from './args.js';

export async function runValidate(argv: string[]): Promise<number> {
  const opts = parseOptions(argv, configOption);
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = opts.config ?? DEFAULT_CONFIG_FILE;
  let config: GatewayConfig;
  try {
    const loaded = loadConfig(file);
    config = loaded.config;
    for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(`${file}: ok\n`);
  } catch (err) {
    process.stderr.write(`switchyard: invalid configuration ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  const standalone = config.deployment.standalone_file;
  if (standalone) {
    try {
      const warnings: string[] = [];
      const items = loadStandaloneFile(standalone, process.env, warnings);
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(`${standalone}: ok (${items.size} items)\n`);
    } catch (err) {
      process.stderr.write(`switchyard: invalid standalone configuration: ${(err as Error).message}\n`);
      return 1;
    }
  }
  return 0;
}
