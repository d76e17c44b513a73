// `switchyard start [-c FILE]`: load the configuration, run the gateway in the
// foreground, stop gracefully on SIGTERM/SIGINT and exit 0 (R-GEN-18).
import cluster from 'node:cluster';
import { DEFAULT_CONFIG_FILE } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { log, survivingClosedStdio } from '../core/log.js';
import { USAGE, configOption, parseOptions } from './args.js';

/** resolves to the exit code once the gateway has stopped (or failed to start) */
export async function runStart(argv: string[]): Promise<number> {
  const opts = parseOptions(argv, configOption);
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (cluster.isWorker && process.env.SWITCHYARD_WORKER === '1') return runWorkerProcess();
  const file = opts.config ?? DEFAULT_CONFIG_FILE;
  let config: GatewayConfig;
  try {
    const loaded = loadConfig(file);
    config = loaded.config;
    for (const w of loaded.warnings) log.warn(w);
  } catch (err) {
    process.stderr.write(`switchyard: invalid configuration ${file}: ${(err as Error).message}\n`);
    return 1;
  }

  // a bug in one request must not take the gateway down (R-GEN-11)
  survivingClosedStdio();
  process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? err}`));

  let signalled: NodeJS.Signals | undefined;
  let onSignal: (sig: NodeJS.Signals) => void = () => {};
  const handler = (sig: NodeJS.Signals) => {
    if (signalled) {
      log.warn(`received ${sig} again: exiting without waiting for in-flight requests`);
      process.exit(1);
    }
    signalled = sig;
    onSignal(sig);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  watchNpmParent(handler);

  // R-WRK-3: one worker is today's single process; more are cluster workers
  const workers = config.nginx_config.worker_processes ?? 1;
  const { startGateway } = workers > 1 ? { startGateway: (await import('../workers/primary.js')).startPrimary } : await import('../app.js');
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    // issue #15: a summary line a second at most, on a terminal only
    gateway = await startGateway(config, { trafficSummary: process.stdout.isTTY === true });
  } catch (err) {
    process.stderr.write(`switchyard: failed to start: ${(err as Error).message}\n`);
    return 1;
  }
  (await import('../core/v8-tuning.js')).endStartupTuning();
  log.info(`switchyard started with ${config.file}`);

  const sig = signalled ?? (await new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve)));
  log.info(`received ${sig}: stopping (in-flight requests have 30 s to finish)`);
  try {
    await gateway.stop();
  } catch (err) {
    log.error(`error while stopping: ${(err as Error).stack ?? err}`);
    return 1;
  }
  log.info('stopped');
  return 0;
}

/** a proxy worker forked by the primary (src/workers/): the primary tells it what to do and when to stop */
async function runWorkerProcess(): Promise<number> {
  survivingClosedStdio();
  process.on('uncaughtException', (err) => log.error(`uncaught exception: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? err}`));
  const { runWorker } = await import('../workers/worker.js');
  return runWorker();
}

/**
 * Under `npx switchyard start` / `npm start` the process tree is
 * npm -> sh -> node, and npm does not pass a SIGTERM on: sh dies and this
 * process would be left running, holding the ports. When started by npm,
 * losing the parent is treated as SIGTERM.
 */
function watchNpmParent(stop: (sig: NodeJS.Signals) => void): void {
  if (!process.env.npm_command && !process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log.warn(`the npm process that started switchyard (pid ${parent}) is gone: stopping as on SIGTERM`);
    stop('SIGTERM');
  }, 500);
  timer.unref();
}
