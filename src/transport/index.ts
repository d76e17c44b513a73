// The gateway's one upstream HTTP layer (ARCHITECTURE.md `transport/`):
// plain upstreams, the AI plugins and the HTTP logger all dispatch through
// handles of one GatewayTransport, created by the running gateway and passed
// down through CompileEnv. A handle is an undici Agent (a Pool per origin
// inside) per setting tuple, shared by every configuration that uses the same
// settings so connections are reused across configuration changes
// (R-REQ-10..12). It opens on first use and closes once no configuration
// holds it and no request runs on it; a request of an old configuration that
// starts after that reopens it. `close()` shuts every Agent (R-GEN-18).
import type { Dispatcher } from 'undici';
import { Agent, buildConnector } from './undici.js';
import type { PeerSink, TransportHandle, TransportSettings, UpstreamTransport } from '../core/transport-types.js';
import { PeerTracker } from './peers.js';

export type { PeerSink, TransportHandle, TransportSettings, UpstreamTransport };

function settingsKey(s: TransportSettings): string {
  return `${s.connectTimeout}|${s.headersTimeout}|${s.bodyTimeout}|${s.keepAliveTimeout}|${s.keepAliveMaxTimeout}|${s.tlsVerify}|${s.connections ?? ''}`;
}

class SharedAgent implements TransportHandle {
  private agent: Agent | undefined;
  /** configurations holding this handle */
  holders = 0;
  /** requests dispatched and not finished */
  private active = 0;

  constructor(readonly key: string, private readonly settings: TransportSettings, private readonly owner: GatewayTransport) {}

  begin(): Dispatcher {
    this.active++;
    return this.agent ?? this.open();
  }

  end(): void {
    this.active--;
    this.closeIfUnused();
  }

  release(): void {
    if (this.holders > 0 && --this.holders === 0) this.owner.forget(this);
    this.closeIfUnused();
  }

  get isOpen(): boolean {
    return this.agent !== undefined;
  }

  close(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    this.owner.closed(this);
    return a ? a.close() : Promise.resolve();
  }

  private closeIfUnused(): void {
    if (this.holders === 0 && this.active <= 0 && this.agent) this.close().catch(() => {});
  }

  private open(): Agent {
    const s = this.settings;
    const a = new Agent({
      connect: buildConnector({ rejectUnauthorized: s.tlsVerify, timeout: s.connectTimeout }),
      keepAliveTimeout: s.keepAliveTimeout,
      keepAliveMaxTimeout: s.keepAliveMaxTimeout,
      headersTimeout: s.headersTimeout,
      bodyTimeout: s.bodyTimeout,
      ...(s.connections !== undefined ? { connections: s.connections } : {}),
    });
    this.agent = a;
    this.owner.opened(this);
    return a;
  }
}

export class GatewayTransport implements UpstreamTransport {
  /** handles some configuration holds, by settings key */
  private readonly held = new Map<string, SharedAgent>();
  /** handles with an open Agent (held or not) */
  private readonly open = new Set<SharedAgent>();
  private readonly peers = new PeerTracker();

  acquire(settings: TransportSettings): TransportHandle {
    const key = settingsKey(settings);
    let h = this.held.get(key);
    if (!h) {
      h = new SharedAgent(key, settings, this);
      this.held.set(key, h);
    }
    h.holders++;
    return h;
  }

  dispatchTracked(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, sink: PeerSink): boolean {
    this.peers.expect(sink);
    try {
      return dispatcher.dispatch(opts, handler);
    } finally {
      this.peers.settle();
    }
  }

  requestTracked(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions, sink: PeerSink): Promise<Dispatcher.ResponseData> {
    // request() creates its undici request synchronously, inside its promise executor
    this.peers.expect(sink);
    try {
      return dispatcher.request(opts);
    } finally {
      this.peers.settle();
    }
  }

  get openCount(): number {
    return this.open.size;
  }

  async close(): Promise<void> {
    const all = [...this.open];
    this.held.clear();
    this.peers.close();
    await Promise.allSettled(all.map((h) => h.close()));
  }

  /** @internal SharedAgent bookkeeping */
  forget(h: SharedAgent): void {
    if (this.held.get(h.key) === h) this.held.delete(h.key);
  }

  /** @internal */
  opened(h: SharedAgent): void {
    this.open.add(h);
  }

  /** @internal */
  closed(h: SharedAgent): void {
    this.open.delete(h);
  }
}
