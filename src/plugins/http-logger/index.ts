// `http-logger` (R-LOG-4, R-LOG-5): entries are batched per plugin
// configuration and POSTed to `uri` through the gateway's transport.
import type { Dispatcher } from 'undici';
import type { PluginDef } from '../../core/types.js';
import type { TransportHandle, UpstreamTransport } from '../../core/transport-types.js';
import { GatewayTransport } from '../../transport/index.js';
import type { Logger } from '../../core/log.js';
import { BatchProcessor, batchLifecycle, batchSchemaProperties, type BatchConfig, type BatchLifecycle } from '../../observability/batch.js';
import { bodySchemaProperties, checkEntryConfig, compileEntry, type EntryBuilder, type EntryConfig } from '../../observability/log-entry.js';
import { GatewayScope } from '../../core/lifecycle.js';
import type { LogDropCounter } from '../../core/types.js';

export interface HttpLoggerConf extends EntryConfig, BatchConfig {
  uri: string;
  auth_header?: string;
  timeout?: number;
  concat_method?: 'json' | 'new_line';
  ssl_verify?: boolean;
}

export interface CompiledHttpLogger extends BatchLifecycle {
  conf: HttpLoggerConf;
  entry: EntryBuilder;
  batch: BatchProcessor<Record<string, unknown>>;
  /** the connections batches are sent on (8 per logger endpoint at most) */
  handle: TransportHandle;
}

export const httpLoggerSchema = {
  type: 'object',
  properties: {
    uri: { type: 'string', pattern: '^[^\\/]+:\\/\\/([\\da-zA-Z.-]+|\\[[\\da-fA-F:]+\\])(:\\d+)?' },
    // sent as the Authorization header: CR and LF would split it
    auth_header: { type: 'string', pattern: '^[^\\r\\n]*$' },
    timeout: { type: 'integer', minimum: 1, default: 3 },
    log_format: { type: 'object' },
    ...bodySchemaProperties,
    concat_method: { type: 'string', default: 'json', enum: ['json', 'new_line'] },
    ssl_verify: { type: 'boolean', default: false },
    ...batchSchemaProperties('http logger'),
  },
  required: ['uri'],
  // R-SEC-10: stored encrypted (as APISIX)
  encrypt_fields: ['auth_header'],
};

/** the request body of one batch (R-LOG-5) */
export function encodeHttpBatch(entries: unknown[], conf: Pick<HttpLoggerConf, 'concat_method' | 'batch_max_size'>): { body: string; contentType: string } {
  if (conf.concat_method === 'new_line') {
    return { body: entries.map((e) => JSON.stringify(e)).join('\n'), contentType: 'text/plain' };
  }
  const one = (conf.batch_max_size ?? 1000) === 1 && entries.length === 1;
  return { body: JSON.stringify(one ? entries[0] : entries), contentType: 'application/json' };
}

export function createHttpSender(conf: HttpLoggerConf, handle: TransportHandle) {
  const url = new URL(conf.uri);
  const timeoutMs = (conf.timeout ?? 3) * 1000;
  return async (entries: unknown[]): Promise<void> => {
    const { body, contentType } = encodeHttpBatch(entries, conf);
    const headers: Record<string, string> = { 'content-type': contentType };
    if (conf.auth_header) headers.authorization = conf.auth_header;
    const signal = AbortSignal.timeout(timeoutMs);
    const dispatcher = handle.begin();
    try {
      await post(url, body, headers, dispatcher, timeoutMs, signal);
    } finally {
      handle.end();
    }
  };
}

async function post(url: URL, body: string, headers: Record<string, string>, dispatcher: Dispatcher, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const res = await dispatcher.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: 'POST',
    headers,
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal,
  });
  // drain the answer so the connection can be reused
  await res.body.text().catch(() => '');
  if (res.statusCode >= 400) {
    throw new Error(`server returned status code[${res.statusCode}] host[${url.host}] port[${url.port || (url.protocol === 'https:' ? 443 : 80)}]`);
  }
}

/**
 * What a logger takes from the gateway: its transport, shutdown scope and
 * drop counter. Without them (unit tests) the logger opens its own transport,
 * nothing flushes it at a stop but its owner's close(), and drops are only
 * in its stats.
 */
export interface LoggerEnv {
  transport?: UpstreamTransport;
  scope?: GatewayScope;
  drops?: LogDropCounter;
}

export function compileHttpLogger(conf: HttpLoggerConf, log: Logger, opts: LoggerEnv = {}): CompiledHttpLogger {
  const transport = opts.transport;
  const own = transport ? undefined : new GatewayTransport();
  const timeoutMs = (conf.timeout ?? 3) * 1000;
  const handle = (transport ?? own!).acquire({
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    tlsVerify: conf.ssl_verify === true,
    connections: 8,
  });
  const batch = new BatchProcessor<Record<string, unknown>>({
    ...conf,
    name: conf.name ?? 'http logger',
    send: createHttpSender(conf, handle),
    log,
    drops: opts.drops,
  });
  const release = async (): Promise<void> => {
    handle.release();
    await own?.close();
  };
  return { conf, entry: compileEntry(conf), batch, handle, ...batchLifecycle(batch, release, opts.scope ?? new GatewayScope()) };
}

export const httpLogger: PluginDef<CompiledHttpLogger> = {
  name: 'http-logger',
  priority: 410,
  schema: httpLoggerSchema,
  check(conf: HttpLoggerConf) {
    let u: URL;
    try {
      u = new URL(conf.uri);
    } catch {
      return `invalid uri: ${conf.uri}`;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return `invalid uri scheme: ${u.protocol.slice(0, -1)}, only http and https are supported`;
    return checkEntryConfig(conf);
  },
  compile(conf: HttpLoggerConf, env) {
    return compileHttpLogger(conf, env.log, { transport: env.transport, scope: env.scope, drops: env.metrics.logDrops });
  },
  destroy(c) {
    c.retire();
  },
  async rewrite(ctx, c) {
    await c.entry.prepare(ctx);
  },
  log(ctx, c) {
    try {
      c.batch.push(c.entry.build(ctx));
    } catch (err) {
      ctx.log.error(`http-logger: failed to build the log entry: ${(err as Error).message}`);
    }
  },
};
