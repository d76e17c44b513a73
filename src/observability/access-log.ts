// The access log (R-ALOG-1..7): one line per proxy-listener request, built
// synchronously from the compiled format when the request is done, written
// asynchronously in batches to the configured file or stdout.
import type { GatewayConfig } from '../config/types.js';
import type { RequestContext } from '../core/types.js';
import type { Logger } from '../core/log.js';
import { compileFormat, unknownVariables, type CompiledFormat, type Escape, type VarResolver } from './format.js';
import { createLineSink, type LineSink } from './line-sink.js';
import { redactionFor } from './redact.js';
import type { Metrics } from './metrics.js';

export interface AccessLog {
  /** called once per proxy request after the log phase */
  write(ctx: RequestContext): void;
  /** the lines show token usage (`$llm_*` variables): then every request's usage is read (undefined: as if true) */
  readonly readsUsage?: boolean;
  close(): Promise<void>;
}

/** R-ALOG-3: APISIX's default `access_log_format` */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri" "$apisix_request_id"';

/**
 * R-ALOG-6: the variable names of an `access_log_format` that switchyard does
 * not know (they render as `-`). `validate` and startup warn about each.
 */
export function unknownAccessLogVariables(format: string): string[] {
  return unknownVariables(format);
}

/** compile a format for rendering (exposed for tests and tools) */
export function compileAccessLogFormat(format: string, escape: Escape = 'default'): CompiledFormat {
  return compileFormat(format, escape);
}

export interface AccessLogOptions {
  /** bound of the write queue in bytes */
  maxPendingBytes?: number;
  /** log a warning per unknown variable (startup already does through the config loader) */
  warnUnknown?: boolean;
  /** the variables' getters (ProxyContext.getterFor), resolved when the format is compiled */
  resolveVar?: VarResolver;
  /** the gateway's metrics: every proxy request is counted there (`http_requests_total`, connections) */
  metrics?: Pick<Metrics, 'noteProxyRequest'>;
}

export function createAccessLog(
  http: GatewayConfig['nginx_config']['http'],
  log: Logger,
  opts: AccessLogOptions = {},
): AccessLog {
  const metrics = opts.metrics;
  const enabled = http?.enable_access_log !== false;
  const format = http?.access_log_format || DEFAULT_ACCESS_LOG_FORMAT;
  const compiled = compileFormat(format, http?.access_log_format_escape === 'json' ? 'json' : 'default', opts.resolveVar);
  // unknown names are warned about by the config loader (src/config/normalize.ts);
  // warn here only when the caller did not go through it
  if (opts.warnUnknown) {
    for (const name of compiled.unknown) log.warn(`access_log_format: unknown variable $${name} (rendered as "-")`);
  }
  let sink: LineSink | undefined;
  if (enabled) {
    sink = createLineSink(http?.access_log || 'logs/access.log', log, {
      label: 'access log',
      maxPendingBytes: opts.maxPendingBytes,
    });
  }
  const readsUsage = enabled && compiled.parts.some((p) => p.kind === 'var' && p.known && p.name.startsWith('llm_'));
  return {
    readsUsage,
    write(ctx) {
      metrics?.noteProxyRequest(ctx);
      if (!sink) return;
      let line: string;
      try {
        line = compiled.renderContext(ctx, redactionFor(ctx));
      } catch (err) {
        log.error(`access log: failed to render a line: ${(err as Error).message}`);
        return;
      }
      sink.push(line + '\n');
    },
    async close() {
      await sink?.close();
    },
  };
}
