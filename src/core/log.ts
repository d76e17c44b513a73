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

let stderrOpen = true;

/**
 * A closed stdout or stderr (the reader of the pipe went away: `switchyard
 * start | head`, a supervisor or log shipper that died) must neither stop nor
 * spin the gateway. Without an 'error' listener every failed write is an
 * uncaught exception, and the log line about it is the next failed write: a
 * busy loop. With this the gateway keeps serving and writes no more lines
 * there. Called once by the CLI at start.
 */
export function survivingClosedStdio(): void {
  process.stderr.on('error', () => {
    stderrOpen = false;
  });
  // the lines written to stdout (generated keys, the traffic summary) are dropped from then on
  process.stdout.on('error', () => {});
}

function write(level: LogLevel, msg: string): void {
  if (order[level] < order[minLevel] || !stderrOpen) return;
  process.stderr.write(`${new Date().toISOString()} [${level}] ${msg}\n`);
}

export const log: Logger = {
  debug: (m) => write('debug', m),
  info: (m) => write('info', m),
  warn: (m) => write('warn', m),
  error: (m) => write('error', m),
};
