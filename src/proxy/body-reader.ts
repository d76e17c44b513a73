// Reading one request body into a Buffer (RequestContext.body()). This runs
// for every proxied request with a body, so it allocates the reader and its
// promise and no closures: the listeners are module functions that find
// their reader on the request (a symbol property), and the body timeout is a
// Deadline handed the reader as its owner.
import type { IncomingMessage } from 'node:http';
import { BODY_TOO_LARGE_CODE } from '../core/errors.js';
import { Deadline } from '../core/deadlines.js';

/** `code` of the error body() rejects with when the client stalled */
export const BODY_TIMEOUT_CODE = 'ECLIENTBODYTIMEOUT';

/** what the reader tells the context it reads for */
export interface BodyOwner {
  /** the whole body was read (called before the promise resolves) */
  bodyDone(body: Buffer): void;
  /** the client sent nothing for `ms`: answer it (408) */
  bodyStalled(ms: number): void;
}

const kReader = Symbol('switchyard.bodyReader');
type Readable = IncomingMessage & { [kReader]?: BodyReader };

function onData(this: Readable, c: Buffer): void {
  this[kReader]?.data(c);
}
function onEnd(this: Readable): void {
  this[kReader]?.end();
}
function onError(this: Readable, e: Error): void {
  this[kReader]?.fail(e);
}
function onClose(this: Readable): void {
  this[kReader]?.fail(new Error('client closed the connection while sending the body'));
}
function onStall(r: BodyReader): void {
  r.stalled();
}

export class BodyReader {
  readonly promise: Promise<Buffer>;
  private resolve!: (b: Buffer) => void;
  private reject!: (e: Error) => void;
  private readonly chunks: Buffer[] = [];
  private len = 0;
  private deadline?: Deadline<BodyReader>;
  /** the declared Content-Length (-1: none, chunked) */
  private readonly declared: number;

  /**
   * `limit` (R-CAP-1): a body growing past it is not read further (rejects
   * with BODY_TOO_LARGE_CODE). `timeoutMs`: nginx's client_body_timeout,
   * measured between two reads, not for the whole body, so a large body that
   * keeps arriving never times out (R-GEN-17); 0: none.
   */
  constructor(private readonly req: Readable, private readonly limit: number | undefined, private readonly timeoutMs: number, private readonly owner: BodyOwner) {
    this.promise = new Promise<Buffer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // a rejection nobody awaits must not become an unhandled rejection
    this.promise.catch(() => {});
    req[kReader] = this;
    const cl = req.headers['content-length'];
    this.declared = cl === undefined || req.headers['transfer-encoding'] !== undefined ? -1 : Number(cl);
    // when the parser already has the whole body (body() called after the
    // request was read) there is no client to wait for: no timer
    if (timeoutMs > 0 && !req.complete) this.deadline = new Deadline<BodyReader>(timeoutMs, onStall, this).start();
    // the listeners stay: once the read is settled they find no reader and do nothing
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  }

  /** the first settle detaches the reader (true); later events are ignored (false) */
  private settle(): boolean {
    if (this.req[kReader] !== this) return false;
    this.req[kReader] = undefined;
    this.deadline?.cancel();
    this.deadline = undefined;
    return true;
  }

  data(c: Buffer): void {
    this.len += c.length;
    if (this.limit !== undefined && this.len > this.limit) {
      // R-CAP-1: stop reading; the reply closes the connection
      this.settle();
      this.chunks.length = 0;
      this.req.pause();
      this.reject(Object.assign(new Error('request body too large'), { code: BODY_TOO_LARGE_CODE }));
      return;
    }
    this.chunks.push(c);
    // the last byte the framing declares is the end of this body: resolving
    // now spares waiting for 'end', which the stream emits a tick later
    if (this.len === this.declared) return this.end();
    this.deadline?.touch();
  }

  end(): void {
    if (!this.settle()) return;
    const chunks = this.chunks;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.len);
    this.owner.bodyDone(body);
    this.resolve(body);
  }

  fail(e: Error): void {
    if (!this.settle()) return;
    this.reject(e);
  }

  stalled(): void {
    this.deadline = undefined;
    if (!this.settle()) return;
    this.chunks.length = 0;
    this.owner.bodyStalled(this.timeoutMs);
    this.reject(Object.assign(new Error('client timed out while sending the request body'), { code: BODY_TIMEOUT_CODE }));
  }
}
