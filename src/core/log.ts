// The error log: one line per event on stderr, `<ISO time> [<level>] <message>`.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let minLevel: LogLevel = (process.env.SWITCHYARD_LOG_LEVEL as LogLevel) in order
  ? (process.env.SWITCHYARD_LOG_LEVEL as LogLevel)
  : 'info';

export function setLogLevel(level: LogLevel): void {
  minLevel = level;
}

function write(level: LogLevel, msg: string): void {
  if (order[level] < order[minLevel]) return;
  process.stderr.write(`${new Date().toISOString()} [${level}] ${msg}\n`);
}

export const log: Logger = {
  debug: (m) => write('debug', m),
  info: (m) => write('info', m),
  warn: (m) => write('warn', m),
  error: (m) => write('error', m),
};
