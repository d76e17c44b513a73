// A minimal request pipeline around one AI plugin, for tests that must run
// before (or independently of) the real proxy core: a real node:http server
// builds a RequestContext, runs the plugin's access -> proxy -> log phases and
// sends Replies with sendReply.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PluginDef, RequestContext, Reply, LlmState, CompileEnv } from '../../src/core/types.js';
import { validateSchema } from '../../src/schema/validate.js';
import { sendReply } from '../../src/core/respond.js';
import { SERVER_HEADER } from '../../src/core/version.js';
import { flushStoredHead } from '../../src/proxy/context.js';
import type { HealthService } from '../../src/llm/health/types.js';
import type { UpstreamTransport } from '../../src/core/transport-types.js';
import { GatewayTransport } from '../../src/transport/index.js';
import { GcpTokenCache } from '../../src/llm/providers/gcp-token.js';
import { gatewayServices } from '../helpers/gateway-services.js';

export interface Harness {
  url: string;
  contexts: RequestContext[];
  compiled: any;
  /** the log phase of each request ran (resolves when n contexts were logged) */
  logged(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  instanceHasQuota?: (name: string, ctx: RequestContext) => Promise<boolean>;
  health?: HealthService;
  /** the gateway transport to compile against; by default the harness opens its own and closes it in close() */
  transport?: UpstreamTransport;
  /** extra plugin names present in ctx.plugins */
  otherPlugins?: string[];
  consumer?: string;
  errors?: string[];
}

export function newLlmState(): LlmState {
  return { requestType: 'traditional_http', requestModel: '', model: '', promptTokens: 0, completionTokens: 0, totalTokens: 0, timeToFirstTokenMs: 0, logSummaries: false, logPayloads: false };
}

export function validated(def: PluginDef, conf: unknown): any {
  const v = validateSchema(def.schema, conf);
  if (!v.ok) throw new Error(`schema: ${v.error}`);
  const e = def.check?.(v.value, 'route');
  if (e) throw new Error(`check: ${e}`);
  return v.value;
}

export async function startHarness(def: PluginDef, conf: unknown, opts: HarnessOptions = {}): Promise<Harness> {
  const value = validated(def, conf);
  const noopLog = { debug() {}, info() {}, warn() {}, error(m: string) { opts.errors?.push(m); } };
  let ownTransport: GatewayTransport | undefined;
  const env: CompileEnv = {
    parentKey: '/apisix/routes/1',
    confHash: 'h1',
    state: {} as any,
    health: opts.health ?? { register: () => ({ isHealthy: () => true, isCooling: () => false, trialOpen: () => false, claimTrial: () => false, observe() {}, version: 0, destroy() {} }), report: () => [], close() {} },
    transport: opts.transport ?? (ownTransport = new GatewayTransport()),
    ...gatewayServices(),
    log: noopLog,
  };
  // through the harness's transport, as the gateway wires it
  const gcpTokens = (env.gcpTokens = new GcpTokenCache(env.transport));
  const compiled = def.compile ? def.compile(value, env) : value;
  const contexts: RequestContext[] = [];
  let loggedCount = 0;
  const waiters = new Set<() => void>();
  const server = http.createServer(async (req, res) => {
    const ac = new AbortController();
    res.on('close', () => { if (!res.writableFinished) ac.abort(); });
    const url = new URL(req.url ?? '/', 'http://x');
    let bodyP: Promise<Buffer> | undefined;
    const vars = new Map<string, string | number | undefined>();
    const ctx: any = {
      req, res, startTime: performance.now(), startEpochMs: Date.now(), requestId: 'r', method: req.method,
      uri: url.pathname, queryString: url.search.slice(1), host: 'localhost', clientIp: req.socket.remoteAddress ?? '',
      clientPort: req.socket.remotePort ?? 0, headers: { ...req.headers }, query: url.searchParams,
      body: () => (bodyP ??= new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', reject);
      })),
      getVar: (n: string) => (vars.has(n) ? vars.get(n) : n === 'remote_addr' ? req.socket.remoteAddress : n === 'uri' ? url.pathname : n.startsWith('arg_') ? url.searchParams.get(n.slice(4)) ?? undefined : undefined),
      setVar: (n: string, v: any) => vars.set(n, v),
      llm: newLlmState(), upstreamAttempts: [], extraResponseHeaders: {}, logFields: {},
      plugins: [{ def }, ...(opts.otherPlugins ?? []).map((name) => ({ def: { name } }))],
      clientAbort: ac.signal, status: 0, bodyBytesSent: 0,
      get headersSent() { return res.headersSent; },
      log: noopLog,
      consumer: opts.consumer ? { username: opts.consumer, plugins: [] } : undefined,
    };
    if (opts.instanceHasQuota) ctx.instanceHasQuota = (n: string) => opts.instanceHasQuota!(n, ctx);
    // the response writer, as the real core's (src/proxy/context.ts): Server
    // and the extra response headers (R-RL-13) are added to the head
    let sent: Record<string, any> = {};
    ctx.writeHead = (status: number, headers: Record<string, any>) => {
      if (res.headersSent || ac.signal.aborted) return;
      headers.Server = SERVER_HEADER;
      for (const k in ctx.extraResponseHeaders) headers[k] = ctx.extraResponseHeaders[k];
      sent = headers;
      res.writeHead(status, headers);
    };
    ctx.responseHeaders = () => {
      const out: Record<string, any> = {};
      for (const k in sent) out[k.toLowerCase()] = sent[k];
      for (const [k, v] of Object.entries(res.getHeaders())) if (v !== undefined) out[k] = v;
      return out;
    };
    ctx.flushHeadSoon = () => process.nextTick(flushStoredHead, ctx);
    ctx.write = (c: Buffer | string) => { ctx.bodyBytesSent += Buffer.byteLength(c); return res.write(c); };
    ctx.end = (c?: Buffer | string) => { if (c !== undefined) ctx.bodyBytesSent += Buffer.byteLength(c); res.end(c); };
    ctx.sendReply = (r: Reply) => { if (res.headersSent) return; ctx.status = r.status; res.setHeader('Server', SERVER_HEADER); sendReply(res, r, ctx.extraResponseHeaders); };
    contexts.push(ctx);
    let reply: Reply | void | undefined;
    try {
      reply = (await def.access?.(ctx, compiled)) ?? undefined;
      if (!reply) reply = (await def.proxy?.(ctx, compiled)) ?? undefined;
    } catch (e) {
      reply = { status: 500, kind: 'page' };
      opts.errors?.push(String((e as Error).stack));
    }
    if (reply && !res.headersSent) {
      ctx.sendReply(reply);
    } else if (!res.headersSent && !res.writableEnded && !ac.signal.aborted) {
      res.statusCode = 500;
      res.end();
    }
    if (ac.signal.aborted && !res.headersSent) ctx.status = 499;
    const fin = () => {
      void Promise.resolve(def.log?.(ctx, compiled)).finally(() => {
        loggedCount++;
        for (const w of [...waiters]) w();
      });
    };
    if (res.writableFinished || res.destroyed) fin();
    else res.once('close', fin);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    contexts,
    compiled,
    logged(n, timeoutMs = 5000) {
      if (loggedCount >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`logged ${loggedCount} < ${n}`)), timeoutMs);
        const w = () => { if (loggedCount >= n) { clearTimeout(t); waiters.delete(w); resolve(); } };
        waiters.add(w);
      });
    },
    async close() {
      def.destroy?.(compiled);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      gcpTokens.close();
      await ownTransport?.close();
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}
