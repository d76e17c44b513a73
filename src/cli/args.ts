// Argument parsing shared by the subcommands: a usage error is exit code 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const USAGE = `usage: switchyard <command> [options]
  start [-c FILE]                        run the gateway in the foreground (FILE default: conf/config.yaml)
  validate [-c FILE]                     check a configuration file
  version                                print the version
  sync -f FILE [-c CONFIG] [--dry-run]   load a declarative file into the running gateway
  dump [-c CONFIG] [-o FILE]             write the running configuration as ADC YAML`;

export class UsageError extends Error {}

/** where a command writes (tests run the commands in-process with their own) */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** prints the problem and the usage line; returns the exit code 2 */
export function usageError(message: string, io: Io = processIo): number {
  io.err(`switchyard: ${message}\n${USAGE}\n`);
  return 2;
}

/** `-h` / `--help`: the usage on stdout; returns the exit code 0 */
export function printUsage(io: Io = processIo): number {
  io.out(`${USAGE}\n`);
  return 0;
}

export const configOption = { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } as const;
