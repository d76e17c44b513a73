// Peer facts from undici's diagnostics_channel (R-VAR-4 `$upstream_addr` for
// named hosts). `undici:request:create` fires synchronously inside
// `dispatch()`, so the request object is tied to the sink of the dispatch in
// progress; `undici:client:sendHeaders` then names the socket that request is
// written on: the peer of exactly this request, also when connections to one
// name reach different addresses (a map of the last connected peer per name
// would answer for whichever connection opened last). Subscribed on first
// use, so a gateway whose upstreams are all IP literals pays nothing.
import diagnostics from 'node:diagnostics_channel';
import type { PeerSink } from '../core/transport-types.js';

interface CreateMessage { request: object }
interface SendHeadersMessage { request: object; socket: { remoteAddress?: string; remotePort?: number } }

export class PeerTracker {
  private pending: PeerSink | undefined;
  private readonly byRequest = new WeakMap<object, PeerSink>();
  private subscribed = false;

  private readonly onCreate = (m: unknown): void => {
    const sink = this.pending;
    if (sink === undefined) return;
    this.pending = undefined;
    this.byRequest.set((m as CreateMessage).request, sink);
  };

  private readonly onSendHeaders = (m: unknown): void => {
    const { request, socket } = m as SendHeadersMessage;
    const sink = this.byRequest.get(request);
    if (sink === undefined) return;
    this.byRequest.delete(request);
    const ip = socket.remoteAddress;
    if (ip) sink.peer = `${ip.includes(':') ? `[${ip}]` : ip}:${socket.remotePort}`;
  };

  /** the next request created (synchronously, by the dispatch about to run) reports its peer to `sink` */
  expect(sink: PeerSink): void {
    if (!this.subscribed) this.subscribe();
    this.pending = sink;
  }

  /** the dispatch returned: a request undici queued instead of creating now is not attributed */
  settle(): void {
    this.pending = undefined;
  }

  private subscribe(): void {
    this.subscribed = true;
    diagnostics.subscribe('undici:request:create', this.onCreate);
    diagnostics.subscribe('undici:client:sendHeaders', this.onSendHeaders);
  }

  close(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    diagnostics.unsubscribe('undici:request:create', this.onCreate);
    diagnostics.unsubscribe('undici:client:sendHeaders', this.onSendHeaders);
  }
}
