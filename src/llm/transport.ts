// Upstream HTTP for the AI plugins over the gateway's transport
// (src/transport/): the settings the plugin attributes map to (R-REQ-10..12),
// the failure classification (R-FB-4) and one upstream call on undici's
// dispatch API.
import type { Dispatcher } from 'undici';
import { errors as undiciErrors } from '../transport/undici.js';
import { AttemptAbort } from './attempt-abort.js';
import type { PeerSink, TransportHandle, TransportSettings, UpstreamTransport } from '../core/transport-types.js';

export interface TransportConf {
  /** ms: connect, each write, each wait for data (R-REQ-10) */
  timeout: number;
  keepalive: boolean;
  /** ms idle before a pooled connection is closed (R-REQ-11) */
  keepalive_timeout: number;
  /**
   * idle connections kept per origin: undici has no idle-only cap and
   * concurrency per origin stays unbounded so long streams never queue
   * behind each other, so this bounds nothing
   */
  keepalive_pool: number;
  ssl_verify: boolean;
}

/** the transport settings of the AI plugins' attributes; `keepalive: false` is per request (`reset`) */
export function llmTransportSettings(t: TransportConf): TransportSettings {
  return {
    connectTimeout: t.timeout,
    headersTimeout: t.timeout,
    bodyTimeout: t.timeout,
    keepAliveTimeout: t.keepalive_timeout,
    keepAliveMaxTimeout: Math.max(t.keepalive_timeout, 600_000),
    tlsVerify: t.ssl_verify,
  };
}

export type FailureKind = 'timeout' | 'error';

/** R-FB-4 classification of a transport failure */
export function classifyError(err: unknown): { kind: FailureKind; status: 504 | 500; message: string } {
  const e = err as any;
  const code: string = e?.code ?? '';
  // switchyard's own deadlines (R-STR-1, R-CAP-2) count as timeouts
  const timeout = (err instanceof AttemptAbort && err.kind !== 'response_too_large') ||
    e instanceof undiciErrors.ConnectTimeoutError ||
    e instanceof undiciErrors.HeadersTimeoutError ||
    e instanceof undiciErrors.BodyTimeoutError ||
    code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ETIMEDOUT';
  const cause = e?.cause?.message ? ` (${e.cause.message})` : '';
  return { kind: timeout ? 'timeout' : 'error', status: timeout ? 504 : 500, message: `${e?.message ?? String(e)}${cause}` };
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
export class UpstreamCall implements Dispatcher.DispatchHandler, PeerSink {
  status = 0;
  /** `ip:port` of the socket the request went out on, when `tracker` was given */
  peer?: string;
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
  private transport: TransportHandle | undefined;

  /** `tracker`: record the peer address (named hosts, R-VAR-4) */
  constructor(transport: TransportHandle, opts: Dispatcher.DispatchOptions, tracker?: UpstreamTransport) {
    this.head = new Promise<UpstreamCall>((res, rej) => {
      this.resolveHead = res;
      this.rejectHead = rej;
    });
    this.head.catch(() => {});
    this.transport = transport;
    try {
      const d = transport.begin();
      if (tracker) tracker.dispatchTracked(d, opts, this, this);
      else d.dispatch(opts, this);
    } catch (e) {
      this.onResponseError(undefined as unknown as Dispatcher.DispatchController, e as Error);
    }
  }

  /** the request is over (response complete or failed): the transport may close */
  private settle(): void {
    const t = this.transport;
    if (!t) return;
    this.transport = undefined;
    t.end();
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
    this.settle();
    if (this.sink) this.sink.end();
    else this.ended = true;
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.settle();
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
