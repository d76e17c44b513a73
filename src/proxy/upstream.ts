// Plain upstream proxying (R-UPS-1..8) over the gateway's transport (one
// handle per connect timeout, a Pool per origin inside), request and response
// streamed, Host and X-Forwarded-* handling, timeouts
// (502/504 pages), retries on another node before any response byte,
// X-APISIX-Upstream-Status on 5xx. Each attempt is recorded in
// ctx.upstreamAttempts (R-VAR-3/4).
import { errors as undiciErrors } from '../transport/undici.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { CompiledUpstream, UpstreamNode } from '../runtime/compile.js';
import type { ProxyContext } from './context.js';
import type { PeerSink, TransportHandle, TransportSettings, UpstreamTransport } from '../core/transport-types.js';
import { pageError } from '../core/errors.js';

/** request bodies up to this size are buffered when a retry is possible */
const RETRY_BUFFER_MAX = 1024 * 1024;

/**
 * The EventEmitter-shaped abort signal undici accepts: far cheaper than an
 * AbortController per request, fired by the context when the client leaves.
 */
class AbortHook {
  aborted = false;
  private listener: (() => void) | undefined;
  on(_ev: 'abort', l: () => void): this {
    this.listener = l;
    return this;
  }
  once(ev: 'abort', l: () => void): this {
    return this.on(ev, l);
  }
  removeListener(): this {
    this.listener = undefined;
    return this;
  }
  fire = (): void => {
    this.aborted = true;
    const l = this.listener;
    this.listener = undefined;
    l?.();
  };
}
/** settings of plain upstreams with this connect timeout (read timeouts are per request) */
function plainSettings(connectTimeout: number): TransportSettings {
  return {
    connectTimeout,
    headersTimeout: 300_000,
    bodyTimeout: 300_000,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    tlsVerify: false,
  };
}

/**
 * The transport handles plain upstreams use, one per connect timeout, owned
 * by the proxy handler; after a configuration swap the handles no upstream
 * uses any more are released (requests in flight finish first).
 */
export class UpstreamDispatchers {
  private readonly handles = new Map<number, TransportHandle>();

  constructor(readonly transport: UpstreamTransport) {}

  handleFor(up: CompiledUpstream): TransportHandle {
    const k = up.timeout.connect;
    let h = this.handles.get(k);
    if (!h) {
      h = this.transport.acquire(plainSettings(k));
      this.handles.set(k, h);
    }
    return h;
  }

  prune(upstreams: Iterable<CompiledUpstream | undefined>): void {
    if (this.handles.size === 0) return;
    const keep = new Set<number>();
    for (const up of upstreams) if (up) keep.add(up.timeout.connect);
    for (const [k, h] of this.handles) {
      if (keep.has(k)) continue;
      this.handles.delete(k);
      h.release();
    }
  }

  close(): void {
    for (const h of this.handles.values()) h.release();
    this.handles.clear();
  }
}

// RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici refuses or sets itself
const HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'expect',
]);
const CLIENT_FORWARDED = new Set(['forwarded', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip']);
const RESP_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'server', 'date',
]);

function connectionTokens(h: IncomingHttpHeaders | Record<string, unknown>): Set<string> | undefined {
  const c = h.connection;
  if (typeof c !== 'string' || c === '' || c === 'keep-alive' || c === 'close') return undefined;
  const s = new Set<string>();
  for (const t of c.split(',')) s.add(t.trim().toLowerCase());
  return s;
}

function requestHeaders(ctx: ProxyContext, up: CompiledUpstream, node: UpstreamNode): Record<string, string | string[]> {
  const src = ctx.headers;
  const extraHop = connectionTokens(src);
  const out: Record<string, string | string[]> = {};
  for (const k in src) {
    if (HOP.has(k) || CLIENT_FORWARDED.has(k) || (extraHop && extraHop.has(k))) continue;
    const v = src[k];
    if (v !== undefined) out[k] = v;
  }
  // R-UPS-2
  if (up.passHost === 'node') out.host = node.hostHeader;
  else if (up.passHost === 'rewrite' && up.upstreamHost) out.host = up.upstreamHost;
  else if (src.host !== undefined) out.host = src.host;
  else out.host = node.hostHeader;
  // R-UPS-3
  const ip = ctx.clientIp;
  out['x-real-ip'] = ip;
  const xff = src['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? (Array.isArray(xff) ? xff.join(', ') : xff) + ', ' + ip : ip;
  out['x-forwarded-proto'] = 'http';
  out['x-forwarded-host'] = ctx.host;
  out['x-forwarded-port'] = String(ctx.addrs.localPort);
  return out;
}

function isTimeout(err: unknown): boolean {
  const e = err as { code?: string };
  return (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    e?.code === 'UND_ERR_CONNECT_TIMEOUT' ||
    e?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e?.code === 'ETIMEDOUT'
  );
}

/**
 * The client's body as undici pulls it; when the upstream does not take the
 * next chunk within the send timeout (R-UPS-6) the attempt is aborted.
 */
async function* timedBody(src: Readable, ms: number, state: { timedOut: boolean }, abort: () => void): AsyncGenerator<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  try {
    for await (const chunk of src) {
      timer = setTimeout(() => {
        state.timedOut = true;
        abort();
      }, ms);
      timer.unref();
      yield chunk as Buffer;
      clearTimeout(timer);
      timer = undefined;
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function hasRequestBody(ctx: ProxyContext): boolean {
  const h = ctx.req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

/**
 * Forward the request to a node of `up` and relay the response. Resolves
 * when the response was relayed (or failed and an error page was sent).
 */
export async function proxyToUpstream(ctx: ProxyContext, up: CompiledUpstream, dispatchers: UpstreamDispatchers): Promise<void> {
  const res = ctx.res;
  if (up.nodes.length === 0) {
    ctx.sendReply(pageError(502));
    return;
  }
  const qs = ctx.forwardQueryString();
  const rawPath = ctx.req.url ?? '/';
  const q = rawPath.indexOf('?');
  // R-UPS-1: the path as received, the (possibly modified) query string
  const path = (q < 0 ? rawPath : rawPath.slice(0, q)) + (qs ? '?' + qs : '');
  const method = ctx.method;
  const withBody = hasRequestBody(ctx);
  // a small body is read first when another node may have to be tried, so a
  // retry can send it again (nginx buffers request bodies by default)
  if (withBody && !ctx.bodyBuffered && up.retries > 0 && up.nodes.length > 1) {
    const cl = Number(ctx.req.headers['content-length']);
    if (cl > 0 && cl <= RETRY_BUFFER_MAX) await ctx.body();
  }
  const tried = new Set<number>();
  const hashKey = up.hashKey ? up.hashKey(ctx) : undefined;
  const maxAttempts = 1 + up.retries;
  let lastStatus = 502;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (ctx.aborted) return;
    const idx = up.picker.pick(tried, hashKey);
    if (idx === undefined) break;
    tried.add(idx);
    const node = up.nodes[idx]!;
    const headers = requestHeaders(ctx, up, node);
    ctx.upstreamScheme = up.scheme;
    ctx.upstreamHost = String(headers.host);
    ctx.upstreamUri = path;
    ctx.balancerIp = node.host;
    ctx.balancerPort = node.port;

    let body: Buffer | Readable | AsyncIterable<Buffer> | undefined;
    const hook = new AbortHook();
    const sendState = { timedOut: false };
    if (ctx.bodyBuffered) body = await ctx.body();
    else if (withBody) body = timedBody(ctx.req, up.timeout.send, sendState, hook.fire);

    ctx.setAbortCallback(hook.fire);
    const t0 = performance.now();
    const rec = { addr: node.addr, status: 0, time: 0 };
    ctx.upstreamAttempts.push(rec);
    const handle = dispatchers.handleFor(up);
    const dispatcher = handle.begin();
    const peer: PeerSink = {};
    let response;
    try {
      const opts = {
        origin: node.origin,
        path,
        method: method as any,
        headers,
        body: body as any,
        headersTimeout: up.timeout.read,
        bodyTimeout: up.timeout.read,
        signal: hook as any,
      };
      response = await (node.named ? dispatchers.transport.requestTracked(dispatcher, opts, peer) : dispatcher.request(opts));
    } catch (err) {
      handle.end();
      rec.time = (performance.now() - t0) / 1000;
      if (ctx.aborted) {
        rec.status = 499;
        return;
      }
      const timeout = sendState.timedOut || isTimeout(err);
      rec.status = lastStatus = timeout ? 504 : 502;
      ctx.log.error(`upstream ${up.scheme}://${node.addr}${path} ${timeout ? 'timed out' : 'failed'}: ${(err as Error).message}${(err as any)?.cause?.message ? ' (' + (err as any).cause.message + ')' : ''}`);
      // retry only when the request body can be sent again
      const retryable = !withBody || ctx.bodyBuffered || !(ctx.req as any).readableDidRead;
      if (!retryable) break;
      continue;
    }

    rec.status = response.statusCode;
    if (peer.peer !== undefined) rec.addr = peer.peer;
    const out: Record<string, string | string[]> = {};
    const extraHop = connectionTokens(response.headers);
    for (const k in response.headers) {
      if (RESP_DROP.has(k) || (extraHop && extraHop.has(k))) continue;
      const v = response.headers[k];
      if (v !== undefined) out[k] = v as string | string[];
    }
    // the writer adds the extra headers (R-RL-13): they replace the upstream's own
    const extra = ctx.extraHeadersIfAny;
    if (extra) for (const k in extra) delete out[k.toLowerCase()];
    // R-UPS-7, as APISIX: the whole $upstream_status when the last one is 5xx
    if (response.statusCode >= 500) out['x-apisix-upstream-status'] = String(ctx.getVar('upstream_status'));
    if (res.headersSent || ctx.aborted) {
      response.body.destroy();
      handle.end();
      return;
    }
    try {
      ctx.writeHead(response.statusCode, out);
    } catch (err) {
      response.body.destroy();
      handle.end();
      throw err;
    }
    await relay(ctx, response.body);
    handle.end();
    rec.time = (performance.now() - t0) / 1000;
    return;
  }
  const tried5xx = ctx.upstreamAttempts.length > 0 ? { 'X-APISIX-Upstream-Status': String(ctx.getVar('upstream_status')) } : undefined;
  ctx.sendReply(pageError(lastStatus, tried5xx));
}

function relay(ctx: ProxyContext, body: Readable): Promise<void> {
  const res = ctx.res;
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      body.destroy();
      finish();
    };
    res.on('close', onClose);
    body.on('data', (chunk: Buffer) => {
      if (!ctx.write(chunk)) {
        body.pause();
        res.once('drain', () => body.resume());
      }
    });
    body.once('end', () => {
      ctx.end();
      finish();
    });
    body.once('error', (err) => {
      ctx.log.error(`upstream response body failed: ${err.message}`);
      // headers are out: the only honest signal left is closing the connection
      res.destroy();
      finish();
    });
  });
}
