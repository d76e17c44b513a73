// Upstream HTTP for the AI plugins: one undici Agent (a Pool per origin
// inside) per transport setting tuple, shared by every configuration that
// uses the same settings, so connections are reused across configuration
// changes (R-REQ-10..12). Each compiled engine holds its Transport; when no
// configuration holds a setting tuple any more its Agent is closed (after the
// requests still running on it), and all Agents close at shutdown (R-GEN-18).
import { Agent, buildConnector, errors as undiciErrors, type Dispatcher } from 'undici';
import { onShutdown } from '../core/lifecycle.js';
import { notePeer } from '../core/peer-addr.js';

export interface TransportConf {
  /** ms: connect, each write, each wait for data (R-REQ-10) */
  timeout: number;
  keepalive: boolean;
  /** ms idle before a pooled connection is closed (R-REQ-11) */
  keepalive_timeout: number;
  /** idle connections kept per origin; undici has no separate idle cap, see Transport */
  keepalive_pool: number;
  ssl_verify: boolean;
}

/** transports some configuration holds, by setting tuple */
const held = new Map<string, Transport>();
/** transports with an open Agent (held or not) */
const open = new Set<Transport>();
let hookInstalled = false;

/**
 * The dispatcher for one setting tuple. `keepalive_pool` bounds nothing in
 * undici terms (it has no idle-only cap); concurrency per origin is unbounded
 * so that long streams never queue behind each other. The Agent opens on
 * first use and closes once no configuration holds the transport and no
 * request runs on it; a request of an old configuration that starts after
 * that reopens it (and it closes again when that request ends).
 */
export class Transport {
  private agent: Agent | undefined;
  /** compiled configurations holding this transport */
  holders = 0;
  /** requests dispatched and not finished */
  private active = 0;

  constructor(readonly key: string, private readonly conf: TransportConf) {}

  /** the dispatcher for one request; pair with `end()` */
  begin(): Dispatcher {
    this.active++;
    return this.agent ?? this.openAgent();
  }

  /** the request that `begin()` returned a dispatcher for has finished */
  end(): void {
    this.active--;
    this.closeIfUnused();
  }

  /** a configuration that acquired this transport is gone */
  release(): void {
    if (this.holders > 0 && --this.holders === 0 && held.get(this.key) === this) held.delete(this.key);
    this.closeIfUnused();
  }

  /** true while an Agent is open (for tests) */
  get isOpen(): boolean {
    return this.agent !== undefined;
  }

  /** close the Agent now (shutdown): requests in flight finish first */
  close(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    open.delete(this);
    return a ? a.close() : Promise.resolve();
  }

  private closeIfUnused(): void {
    if (this.holders === 0 && this.active <= 0 && this.agent) this.close().catch(() => {});
  }

  private openAgent(): Agent {
    const t = this.conf;
    const connector = buildConnector({ rejectUnauthorized: t.ssl_verify, timeout: t.timeout });
    const a = new Agent({
      keepAliveTimeout: t.keepalive_timeout,
      keepAliveMaxTimeout: Math.max(t.keepalive_timeout, 600_000),
      headersTimeout: t.timeout,
      bodyTimeout: t.timeout,
      connect(opts, cb) {
        connector(opts, (err, socket) => {
          if (!err && socket) notePeer(`${opts.hostname}:${opts.port || (opts.protocol === 'https:' ? '443' : '80')}`, socket);
          cb(err as any, socket as any);
        });
      },
    });
    this.agent = a;
    open.add(this);
    if (!hookInstalled) {
      hookInstalled = true;
      onShutdown(closeTransports);
    }
    return a;
  }
}

function transportKey(t: TransportConf): string {
  return `${t.timeout}|${t.keepalive}|${t.keepalive_timeout}|${t.keepalive_pool}|${t.ssl_verify}`;
}

/** the shared transport for these settings; the caller calls `release()` when its configuration is gone */
export function acquireTransport(t: TransportConf): Transport {
  const key = transportKey(t);
  let tr = held.get(key);
  if (!tr) {
    tr = new Transport(key, t);
    held.set(key, tr);
  }
  tr.holders++;
  return tr;
}

/** number of open Agents (for tests) */
export function openTransportCount(): number {
  return open.size;
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

/** close every Agent (shutdown hook); requests in flight finish first */
export async function closeTransports(): Promise<void> {
  const all = [...open];
  hookInstalled = false;
  await Promise.allSettled(all.map((t) => t.close()));
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
  private transport: Transport | undefined;

  constructor(transport: Transport, opts: Dispatcher.DispatchOptions) {
    this.head = new Promise<UpstreamCall>((res, rej) => {
      this.resolveHead = res;
      this.rejectHead = rej;
    });
    this.head.catch(() => {});
    this.transport = transport;
    try {
      transport.begin().dispatch(opts, this);
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
