// A real node:http mock LLM provider for tests (and the benchmark).
//
//   import { startMockLlm, chatCompletion, sseChat } from '../helpers/mock-llm.js';
//   const mock = await startMockLlm();          // listens on 127.0.0.1:<random>
//   t.after(() => mock.close());
//   mock.url                                    // "http://127.0.0.1:<port>" (no path)
//
// Default behaviour (no programming needed), chosen per request:
//   - body with `stream: true` and a chat body -> SSE stream (sseChat defaults:
//     3 content chunks, a usage chunk, `data: [DONE]`), text/event-stream
//   - path ending in /v1/messages -> Anthropic message JSON (usage 23/8)
//   - body with `input` (embeddings) -> OpenAI embeddings list (usage 2/2)
//   - anything else -> the chat completion of spec §11 (model = request's
//     model, content "1+1 equals 2.", usage 23/8/31)
//
// Programming behaviour: a MockResponse is a plain object:
//   { status?, headers?, json?, body?, chunks?, sse?, delayMs?, hang?, drop?, dropAfter? }
//   - json: JSON body (content-type application/json unless headers say otherwise)
//   - body: raw string/Buffer body (content-type text/plain unless headers say so)
//   - chunks: [{data, delayMs?}] or strings, each written with its own write()
//     after the headers (the content-type defaults to text/event-stream);
//     use this to split SSE events across TCP writes
//   - sse: events [{data, event?, delayMs?}] | strings: each one event
//     ("event: x\n" + "data: <data>\n\n"; objects are JSON-encoded), one write each
//   - delayMs: wait before sending headers
//   - hang: never answer (the socket stays open until the client gives up)
//   - drop: destroy the socket without answering
//   - dropAfter: with chunks/sse, destroy the socket after writing that many
//     chunks (a mid-stream failure: no terminating chunk)
// Install with:
//   mock.reply(resp | (req) => resp)        every request from now on
//   mock.replyOnce(resp | fn)               queued, used once each (FIFO) before the above
//   mock.route('/probe', resp | fn)         requests whose path equals '/probe' (highest precedence)
//   mock.reset()                            back to defaults, requests cleared
// Inspection:
//   mock.requests: MockRequest[]  (method, path, query, rawQuery, headers, body (parsed JSON or
//                  undefined), rawBody, aborted (client closed before the response ended))
//   mock.count(path?) number of requests (to a path)
//   mock.connections  number of TCP connections accepted so far
//   mock.waitFor(n, timeoutMs) resolves when n requests were received
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockRequest {
  method: string;
  path: string;
  rawQuery: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  body: any;
  /** true when the client closed the connection before our response was complete */
  aborted: boolean;
  receivedAt: number;
}

export interface MockChunk {
  data: string | Buffer;
  delayMs?: number;
}

export interface MockSseEvent {
  data: unknown;
  event?: string;
  delayMs?: number;
}

export interface MockResponse {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string | Buffer;
  chunks?: (MockChunk | string)[];
  sse?: (MockSseEvent | string)[];
  delayMs?: number;
  hang?: boolean;
  drop?: boolean;
  dropAfter?: number;
}

export type MockHandler = MockResponse | ((req: MockRequest) => MockResponse | Promise<MockResponse>);

export interface MockLlm {
  url: string;
  port: number;
  server: http.Server;
  requests: MockRequest[];
  reply(h: MockHandler): void;
  replyOnce(h: MockHandler): void;
  route(path: string, h: MockHandler): void;
  reset(): void;
  count(path?: string): number;
  readonly connections: number;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const DEFAULT_USAGE: Usage = { prompt_tokens: 23, completion_tokens: 8, total_tokens: 31 };

/** the chat completion body of spec §11 */
export function chatCompletion(model: string, content = '1+1 equals 2.', usage: Usage | null = DEFAULT_USAGE): Record<string, unknown> {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1700000000,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage,
  };
}

export function embeddingsList(model: string, n = 1): Record<string, unknown> {
  return {
    object: 'list',
    data: Array.from({ length: n }, (_, i) => ({ object: 'embedding', index: i, embedding: [0.0023, -0.0093, 0.0151] })),
    model,
    usage: { prompt_tokens: 2, total_tokens: 2 },
  };
}

export function anthropicMessage(model: string, text = '1+1 equals 2.'): Record<string, unknown> {
  return {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 23, output_tokens: 8 },
  };
}

/** OpenAI chat stream events: one chunk per text piece, then a usage chunk, then [DONE] */
export function sseChat(model: string, pieces: string[] = ['1+1 ', 'equals ', '2.'], usage: Usage | null = DEFAULT_USAGE, delayMs = 0): MockSseEvent[] {
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1700000000, model };
  const ev: MockSseEvent[] = [];
  ev.push({ data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }, delayMs });
  for (const p of pieces) ev.push({ data: { ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] }, delayMs });
  ev.push({ data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }, delayMs });
  if (usage) ev.push({ data: { ...base, choices: [], usage }, delayMs });
  ev.push({ data: '[DONE]', delayMs });
  return ev;
}

/** encodes one SSE event the way providers do */
export function sseEvent(e: MockSseEvent | string): string {
  if (typeof e === 'string') return `data: ${e}\n\n`;
  const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
  return `${e.event ? `event: ${e.event}\n` : ''}data: ${data}\n\n`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function defaultResponse(r: MockRequest): MockResponse {
  const body = r.body && typeof r.body === 'object' ? r.body : {};
  const model = typeof body.model === 'string' ? body.model : 'unknown';
  if (r.path.endsWith('/v1/messages')) return { json: anthropicMessage(model) };
  if (body.stream === true && body.messages !== undefined) return { sse: sseChat(model) };
  if (body.messages === undefined && 'input' in body) return { json: embeddingsList(model) };
  return { json: chatCompletion(model) };
}

export async function startMockLlm(opts: { host?: string; port?: number } = {}): Promise<MockLlm> {
  let always: MockHandler | undefined;
  let once: MockHandler[] = [];
  let routes = new Map<string, MockHandler>();
  const requests: MockRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void serve(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.keepAliveTimeout = 65_000;
  let connections = 0;
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, rawBody: string): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const query: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(rawQuery)) if (!(k in query)) query[k] = v;
    let body: any;
    try { body = rawBody ? JSON.parse(rawBody) : undefined; } catch { body = undefined; }
    const r: MockRequest = { method: req.method ?? '', path, rawQuery, query, headers: req.headers, rawBody, body, aborted: false, receivedAt: Date.now() };
    requests.push(r);
    for (const w of [...waiters]) w();
    let finished = false;
    res.on('finish', () => (finished = true));
    res.on('close', () => { if (!finished) r.aborted = true; });

    let h: MockHandler | undefined = routes.get(path) ?? once.shift() ?? always;
    let resp: MockResponse;
    try {
      resp = h === undefined ? defaultResponse(r) : typeof h === 'function' ? await h(r) : h;
    } catch (e) {
      resp = { status: 500, body: String(e) };
    }
    if (resp.drop) { req.socket.destroy(); return; }
    if (resp.hang) return;
    if (resp.delayMs) await sleep(resp.delayMs);
    if (res.destroyed) return;
    const headers: Record<string, string> = { ...(resp.headers ?? {}) };
    const hasCT = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
    let stream: MockChunk[] | undefined;
    if (resp.sse) stream = resp.sse.map((e) => ({ data: sseEvent(e), delayMs: typeof e === 'string' ? 0 : e.delayMs }));
    else if (resp.chunks) stream = resp.chunks.map((c) => (typeof c === 'string' ? { data: c } : c));
    if (stream) {
      if (!hasCT) headers['content-type'] = 'text/event-stream';
      res.writeHead(resp.status ?? 200, headers);
      res.flushHeaders();
      let n = 0;
      for (const c of stream) {
        if (c.delayMs) await sleep(c.delayMs);
        if (res.destroyed) return;
        if (resp.dropAfter !== undefined && n >= resp.dropAfter) { req.socket.destroy(); return; }
        res.write(c.data);
        n++;
      }
      if (resp.dropAfter !== undefined && n >= resp.dropAfter) { await sleep(5); req.socket.destroy(); return; }
      res.end();
      return;
    }
    let payload: string | Buffer = '';
    if (resp.json !== undefined) {
      payload = JSON.stringify(resp.json);
      if (!hasCT) headers['content-type'] = 'application/json';
    } else if (resp.body !== undefined) {
      payload = resp.body;
      if (!hasCT) headers['content-type'] = 'text/plain';
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(resp.status ?? 200, headers);
    res.end(payload);
  }

  // a port in use rejects (scripts/mock.ts reports it) instead of an uncaught 'error'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    requests,
    reply(h) { always = h; },
    replyOnce(h) { once.push(h); },
    route(p, h) { routes.set(p, h); },
    reset() { always = undefined; once = []; routes = new Map(); requests.length = 0; },
    get connections() { return connections; },
    count(p) { return p === undefined ? requests.length : requests.filter((r) => r.path === p).length; },
    waitFor(n, timeoutMs = 5000) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (requests.length >= n) { clearTimeout(t); waiters.delete(check); resolve(); }
        };
        const t = setTimeout(() => { waiters.delete(check); reject(new Error(`mock: waited for ${n} requests, got ${requests.length}`)); }, timeoutMs);
        waiters.add(check);
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}
