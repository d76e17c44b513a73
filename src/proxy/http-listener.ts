// The HTTP listener every switchyard port uses: node:http with the framing
// rules a gateway needs on top of it, so that no request can be smuggled past
// a framing error (RFC 9112 §9.3.2, §11.2):
//   - a request without a version (parsed as HTTP/0.9), an HTTP/1.1
//     request without Host, and one with two Host lines are answered 400 and
//     their connection closed; it is
//     never handed to the handler (node:http would hand on the requests
//     pipelined after it);
//   - after any framing error, no further request of that connection is
//     handled, and the 400 is written only once the responses already in
//     flight on it are complete, so every earlier request gets its own
//     answer, in order, before the connection closes.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ListenAddr } from '../config/types.js';
import { SERVER_HEADER } from '../core/version.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const kState = Symbol('switchyard.connection');

/** per connection, set once when it is accepted (one shape for every socket) */
interface ConnState {
  /** responses handed to the handler and not yet closed */
  pending: number;
  /** a framing error was seen: no further request is handled */
  poisoned: boolean;
  /** the 400 waits for the pending responses */
  deferred: boolean;
  /** the last request handed to the handler */
  last: IncomingMessage | null;
  /** 1 when a framing error broke off the last request's body: its response is not waited for */
  stuck: number;
}

/** after a 400 that broke off a body, the client has this long to read it and close */
const LINGER_MS = 2000;

type TrackedSocket = Socket & { [kState]: ConnState };

const BAD_REQUEST = `HTTP/1.1 400 Bad Request\r\nServer: ${SERVER_HEADER}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;

function answerBadRequest(socket: TrackedSocket): void {
  if (socket.writable) socket.end(BAD_REQUEST);
  else socket.destroy();
}

/** shared by every response ('close' is emitted once): one fewer in flight on its connection */
function onResponseClose(this: ServerResponse): void {
  const s = this.req.socket as TrackedSocket;
  const st = s[kState];
  if (--st.pending === st.stuck && st.deferred) {
    st.deferred = false;
    answerWhenIdle(s, 0);
  }
}

/**
 * A response that finished while queued behind another (pipelining) is
 * written to the socket by node:http only when the socket is handed to it, a
 * little after its 'close': the 400 waits until no response holds the socket
 * and its write queue is empty (bounded, then written anyway).
 */
function answerWhenIdle(s: TrackedSocket, tries: number): void {
  const busy = (s as unknown as { _httpMessage?: unknown })._httpMessage != null || s.writableLength > 0;
  if (busy && tries < 1000 && !s.destroyed) {
    setImmediate(answerWhenIdle, s, tries + 1);
    return;
  }
  answerBadRequest(s);
}

/** Host header lines (RFC 9112 §3.2: more than one is a 400; node:http keeps the first) */
function hostLines(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 4 && (k === 'Host' || k === 'host' || k.toLowerCase() === 'host')) n++;
  }
  return n;
}

export interface ListenerOptions {
  /** the handler writes `Server` itself (see app.ts) */
  ownsHeaders?: boolean;
  keepAliveTimeout?: number;
}

export function createListener(handler: Handler, opts: ListenerOptions = {}): http.Server {
  const server = http.createServer(
    { keepAliveTimeout: opts.keepAliveTimeout ?? 60_000, requestTimeout: 0, headersTimeout: 60_000, requireHostHeader: false },
    (req, res) => {
      const sock = req.socket as TrackedSocket;
      const st = sock[kState];
      // pipelined after a framing error: never handled, never answered (the
      // connection closes after the error's 400)
      if (st.poisoned) return;
      if (req.httpVersionMajor !== 1 || (req.httpVersionMinor === 1 && req.headers.host === undefined) || hostLines(req.rawHeaders) > 1) {
        st.poisoned = true;
        if (st.pending > 0) st.deferred = true;
        else answerBadRequest(sock);
        return;
      }
      st.pending++;
      st.last = req;
      res.on('close', onResponseClose);
      if (!opts.ownsHeaders) res.setHeader('Server', SERVER_HEADER);
      handler(req, res);
    },
  );
  server.on('connection', (socket: TrackedSocket) => {
    socket[kState] = { pending: 0, poisoned: false, deferred: false, last: null, stuck: 0 };
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: TrackedSocket) => {
    // malformed HTTP never reaches a handler; answer 400 when the socket allows
    // it, after the responses to the requests before it
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const st = socket[kState];
    st.poisoned = true;
    // an error inside a body (a bad chunk size) leaves that request in
    // flight with a body that never ends: its response is not waited for,
    // and the connection is closed after the 400 even if the client keeps
    // it open, which aborts the request (and its upstream call)
    if (st.last !== null && !st.last.complete) {
      st.stuck = 1;
      socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref());
    }
    if (st.pending > st.stuck) st.deferred = true;
    else answerBadRequest(socket);
  });
  return server;
}

export function listen(handler: Handler, addr: ListenAddr, opts: ListenerOptions = {}): Promise<http.Server> {
  const server = createListener(handler, opts);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.ip, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
