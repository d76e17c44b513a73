// The contract of the gateway's one upstream HTTP layer (src/transport/),
// as the lower layers see it through CompileEnv: a handle per setting tuple,
// reference-counted by the configurations holding it, and peer facts per
// request from undici's diagnostics_channel.
import type { Dispatcher } from 'undici';

export interface TransportSettings {
  /** ms to open a connection (TCP + TLS) */
  connectTimeout: number;
  /** ms default wait for the response head and between body chunks (a request may override it) */
  headersTimeout: number;
  bodyTimeout: number;
  /** ms an idle pooled connection is kept */
  keepAliveTimeout: number;
  /** upper bound for a server's Keep-Alive hint */
  keepAliveMaxTimeout: number;
  tlsVerify: boolean;
  /** connections per origin; undefined = unbounded, so long streams never queue behind each other */
  connections?: number;
}

/** one setting tuple's dispatcher (an undici Agent: a Pool per origin inside) */
export interface TransportHandle {
  readonly key: string;
  /** the dispatcher for one request; pair with `end()` */
  begin(): Dispatcher;
  /** the request that `begin()` returned a dispatcher for has finished */
  end(): void;
  /** the configuration that acquired this handle is gone */
  release(): void;
  /** true while an Agent is open */
  readonly isOpen: boolean;
}

/** where the peer of a dispatched request is written (`ip:port`, R-VAR-4) */
export interface PeerSink {
  peer?: string;
}

export interface UpstreamTransport {
  /** the shared handle for these settings; call `release()` when the holder is gone */
  acquire(settings: TransportSettings): TransportHandle;
  /**
   * `dispatcher.dispatch(opts, handler)`, and the address of the socket the
   * request is written on lands in `sink.peer` (for named hosts, whose
   * address the configuration does not say)
   */
  dispatchTracked(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, sink: PeerSink): boolean;
  /** `dispatcher.request(opts)` with the peer written to `sink.peer`, as dispatchTracked */
  requestTracked(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions, sink: PeerSink): Promise<Dispatcher.ResponseData>;
  /** number of open Agents */
  readonly openCount: number;
  /** close every Agent; requests in flight finish first */
  close(): Promise<void>;
}
