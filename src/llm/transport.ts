// Upstream HTTP for the AI plugins: one undici Agent (a Pool per origin
// inside) per transport setting tuple, shared by every configuration that
// uses the same settings, so connections are reused across configuration
// changes (R-REQ-10..12).
import { Agent, buildConnector, errors as undiciErrors, type Dispatcher } from 'undici';
import { isIP } from 'node:net';

export interface TransportConf {
  /** ms: connect, each write, each wait for data (R-REQ-10) */
  timeout: number;
  keepalive: boolean;
  /** ms idle before a pooled connection is closed (R-REQ-11) */
  keepalive_timeout: number;
  /** idle connections kept per origin; undici has no separate idle cap, see transportFor */
  keepalive_pool: number;
  ssl_verify: boolean;
}

const agents = new Map<string, Agent>();
/** last connected peer per "host:port" (for $upstream_addr, R-VAR-4) */
const peers = new Map<string, string>();

/**
 * The dispatcher for these settings. `keepalive_pool` bounds nothing in
 * undici terms (it has no idle-only cap); concurrency per origin is unbounded
 * so that long streams never queue behind each other.
 */
export function transportFor(t: TransportConf): Dispatcher {
  const key = `${t.timeout}|${t.keepalive}|${t.keepalive_timeout}|${t.keepalive_pool}|${t.ssl_verify}`;
  let a = agents.get(key);
  if (!a) {
    const connector = buildConnector({ rejectUnauthorized: t.ssl_verify, timeout: t.timeout });
    a = new Agent({
      keepAliveTimeout: t.keepalive_timeout,
      keepAliveMaxTimeout: Math.max(t.keepalive_timeout, 600_000),
      headersTimeout: t.timeout,
      bodyTimeout: t.timeout,
      connect(opts, cb) {
        connector(opts, (err, socket) => {
          if (!err && socket) {
            const port = opts.port || (opts.protocol === 'https:' ? '443' : '80');
            if (socket.remoteAddress) peers.set(`${opts.hostname}:${port}`, `${socket.remoteAddress}:${socket.remotePort}`);
          }
          cb(err as any, socket as any);
        });
      },
    });
    agents.set(key, a);
  }
  return a;
}

/** `ip:port` of the last connection to host:port, or `host:port` when unknown */
export function peerAddr(host: string, port: number): string {
  const k = `${host}:${port}`;
  if (isIP(host)) return k;
  return peers.get(k) ?? k;
}

export type FailureKind = 'timeout' | 'error';

/** R-FB-4 classification of a transport failure */
export function classifyError(err: unknown): { kind: FailureKind; status: 504 | 500; message: string } {
  const e = err as any;
  const code: string = e?.code ?? '';
  const timeout =
    e instanceof undiciErrors.ConnectTimeoutError ||
    e instanceof undiciErrors.HeadersTimeoutError ||
    e instanceof undiciErrors.BodyTimeoutError ||
    code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ETIMEDOUT';
  const cause = e?.cause?.message ? ` (${e.cause.message})` : '';
  return { kind: timeout ? 'timeout' : 'error', status: timeout ? 504 : 500, message: `${e?.message ?? String(e)}${cause}` };
}

export async function closeTransports(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.allSettled(all.map((a) => a.close()));
}

export interface ResponseSink {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

/**
 * One upstream request on undici's dispatch API (no stream objects per
 * request). `head` resolves at the response status line + headers (or
 * rejects with the transport error); the body is then delivered to the sink
 * given to `pipe` (chunks that arrived earlier are buffered).
 */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  readonly head: Promise<UpstreamCall>;
  private controller?: Dispatcher.DispatchController;
  private resolveHead!: (c: UpstreamCall) => void;
  private rejectHead!: (e: Error) => void;
  private started = false;
  private sink?: ResponseSink;
  private buffered?: Buffer[];
  private ended = false;
  private failed?: Error;
  private abortReason?: Error;

  constructor(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions) {
    this.head = new Promise<UpstreamCall>((res, rej) => {
      this.resolveHead = res;
      this.rejectHead = rej;
    });
    this.head.catch(() => {});
    dispatcher.dispatch(opts, this);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    this.started = true;
    this.resolveHead(this);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.sink) this.sink.data(chunk);
    else (this.buffered ??= []).push(chunk);
  }

  onResponseEnd(): void {
    if (this.sink) this.sink.end();
    else this.ended = true;
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (!this.started) return this.rejectHead(err);
    if (this.sink) this.sink.error(err);
    else this.failed = err;
  }

  pipe(sink: ResponseSink): void {
    this.sink = sink;
    const b = this.buffered;
    this.buffered = undefined;
    if (b) for (const c of b) sink.data(c);
    if (this.failed) sink.error(this.failed);
    else if (this.ended) sink.end();
  }

  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  abort(reason: Error): void {
    if (this.controller) this.controller.abort(reason);
    else this.abortReason = reason;
  }

  /** discard the rest of the body */
  dump(): void {
    this.pipe({ data() {}, end() {}, error() {} });
  }
}
