// The data-plane request handler: the pipeline of R-PIPE-1..11 over the
// compiled Runtime the request started with (R-GEN-10).
//   match route → global rules rewrite+access → route rewrite → consumer
//   merge (R-PIPE-6) + consumer plugins' rewrite → access → proxy (AI plugin
//   or plain upstream) → after the response: log phases → access log.
// A Reply from a plugin ends the request (R-PIPE-4); log phases still run.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { AccessLog } from '../observability/access-log.js';
import type { RecentRequests } from '../observability/recent-requests.js';
import type { TrafficTally } from '../observability/traffic-summary.js';
import type { Logger } from '../core/log.js';
import type { CompiledPlugin, Reply } from '../core/types.js';
import { jsonError, pageError } from '../core/errors.js';
import { sendReply } from '../core/respond.js';
import { consumerChain, type PluginChain, type Runtime, type RuntimeRoute } from '../runtime/compile.js';
import { BODY_TIMEOUT_CODE, DEFAULT_CLIENT_BODY_TIMEOUT_MS, ProxyContext } from './context.js';
import { proxyToUpstream, UpstreamDispatchers } from './upstream.js';
import { shapeAiError } from './error-shape.js';

const NOT_FOUND: Reply = jsonError(404, { error_msg: '404 Route Not Found' });
const BAD_REQUEST: Reply = pageError(400);
const INTERNAL: Reply = pageError(500);
const UNAVAILABLE: Reply = pageError(503);

type Phase = 'rewrite' | 'access';

/** a Host header nginx would accept: a name or IPv4, or a bracketed IPv6, with an optional port */
const VALID_HOST = /^(?:\[[0-9A-Za-z:.%]+\]|[^\s/\\[\]@?#]*)(?::\d*)?$/;

/** R-ADM-60 `_meta.error_response` */
function withErrorResponse(p: CompiledPlugin, r: Reply): Reply {
  if (p.errorResponse === undefined || r.status < 400) return r;
  if (typeof p.errorResponse === 'string') return { status: r.status, kind: 'text', body: p.errorResponse, headers: r.headers, verbatim: true };
  return { status: r.status, kind: 'json', body: p.errorResponse, headers: r.headers, verbatim: true };
}

function isReply(v: unknown): v is Reply {
  return !!v && typeof v === 'object' && typeof (v as Reply).status === 'number';
}

/**
 * Run one phase's plugins from `start`. Plugins that answer at once are run
 * without a promise; from the first one that returns a promise on, the rest
 * runs in an async continuation (a phase of synchronous plugins costs no
 * promise, no async frame and no microtask hop).
 */
function runPhase(ctx: ProxyContext, list: readonly CompiledPlugin[], phase: Phase, start = 0): PhaseResult {
  for (let i = start; i < list.length; i++) {
    const p = list[i]!;
    if (p.filter && !p.filter(ctx)) continue;
    const r = p.def[phase]!(ctx, p.conf);
    if (r && typeof (r as Promise<unknown>).then === 'function') return continuePhase(ctx, list, phase, i, r as Promise<unknown>);
    if (isReply(r)) return withErrorResponse(p, r);
    if (ctx.res.headersSent || ctx.aborted) return undefined;
  }
  return undefined;
}

type PhaseResult = Reply | undefined | Promise<Reply | undefined>;

async function continuePhase(ctx: ProxyContext, list: readonly CompiledPlugin[], phase: Phase, i: number, pending: Promise<unknown>): Promise<Reply | undefined> {
  const r = await pending;
  if (isReply(r)) return withErrorResponse(list[i]!, r);
  if (ctx.res.headersSent || ctx.aborted) return undefined;
  return runPhase(ctx, list, phase, i + 1);
}

export interface ProxyHandler {
  handler(req: IncomingMessage, res: ServerResponse): void;
  /** requests started and not yet logged */
  readonly inFlight: number;
  /** requests started since the handler was created */
  readonly started: number;
  /** resolves once no request is in flight (all log phases and access log lines done) */
  drained(): Promise<void>;
}

export interface ProxyHandlerOptions {
  holder: RuntimeHolder;
  accessLog: AccessLog;
  log: Logger;
  /**
   * Longest wait between two reads of a request body (nginx's
   * client_body_timeout, 60 s). Internal: not a config.yaml key; the
   * environment variable SWITCHYARD_CLIENT_BODY_TIMEOUT_MS overrides the
   * default (tests).
   */
  clientBodyTimeoutMs?: number;
  /** `apisix.max_post_args_readable_size` in bytes (0: no cap): the largest body read for `post_arg.*` vars (R-RTE-20) */
  maxPostArgsBytes?: number;
  /** the dashboard's ring of last requests (R-UI-1): one slot written per request */
  recent?: RecentRequests;
  /** the terminal's traffic summary (issue #15): counts per finished request, only when stdout is a TTY */
  traffic?: TrafficTally;
}

/** APISIX's default `apisix.max_post_args_readable_size`: 64 MiB */
export const DEFAULT_MAX_POST_ARGS_BYTES = 64 * 1024 * 1024;

function bodyTimeoutFromEnv(): number {
  const raw = process.env.SWITCHYARD_CLIENT_BODY_TIMEOUT_MS;
  const n = raw === undefined || raw === '' ? NaN : Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_CLIENT_BODY_TIMEOUT_MS;
}

/** `matched_uri` / `matched_host` of the matched route (R-PROM-3) */
function noteMatch(ctx: ProxyContext, route: RuntimeRoute): void {
  if (route.hosts) ctx.matchedHosts = route.hosts;
}

export function createProxyHandler(opts: ProxyHandlerOptions): ProxyHandler {
  const { holder, accessLog, log, recent, traffic } = opts;
  const bodyTimeoutMs = opts.clientBodyTimeoutMs ?? bodyTimeoutFromEnv();
  const maxPostArgsBytes = opts.maxPostArgsBytes ?? DEFAULT_MAX_POST_ARGS_BYTES;
  let inFlight = 0;
  let started = 0;
  let waiters: Array<() => void> = [];
  const done = (): void => {
    if (--inFlight > 0 || waiters.length === 0) return;
    const list = waiters;
    waiters = [];
    for (const w of list) w();
  };
  // readers of every request's usage, whatever its route (RequestContext.usageRead)
  const usageAlwaysRead = accessLog.readsUsage !== false || traffic !== undefined;
  const dispatchers = new UpstreamDispatchers(holder.env.transport);
  // release the transport handles the new configuration no longer uses
  holder.onSwap?.((rt) => dispatchers.prune(rt.routes.map((r) => r.upstream)));

  const send = (ctx: ProxyContext, reply: Reply): void => {
    if (ctx.res.headersSent || ctx.aborted) return;
    ctx.responseSource ??= 'apisix';
    // R-ERR-1: errors of AI routes in the client protocol's shape
    ctx.sendReply(reply.status >= 400 ? shapeAiError(ctx, reply) : reply);
  };

  async function pipeline(ctx: ProxyContext, rt: Runtime): Promise<void> {
    if (!ctx.pathValid) return send(ctx, BAD_REQUEST);
    const hostHeader = ctx.req.headers.host;
    if (hostHeader !== undefined && !VALID_HOST.test(hostHeader)) return send(ctx, BAD_REQUEST);
    let route = rt.router.match(ctx);
    if (ctx.postArgsWanted === true) {
      // a candidate route tests `post_arg.*` (R-RTE-20): read the JSON body once, match again
      await ctx.readPostArgs(maxPostArgsBytes);
      if (ctx.res.headersSent || ctx.aborted) return;
      route = rt.router.match(ctx);
    }
    const globals = rt.globalChain;
    let reply: Reply | undefined;
    // a phase's result is awaited only when it is a promise (an await of a value still costs a microtask hop)
    let pr: PhaseResult;

    // 1. global rules: rewrite then access (R-PIPE-7), also without a route (R-RTE-7)
    if (globals.all.length) {
      if (globals.rewrite.length) reply = (pr = runPhase(ctx, globals.rewrite, 'rewrite')) instanceof Promise ? await pr : pr;
      if (!reply && globals.access.length && !ctx.res.headersSent) reply = (pr = runPhase(ctx, globals.access, 'access')) instanceof Promise ? await pr : pr;
      if (reply) return send(ctx, reply);
      if (ctx.res.headersSent || ctx.aborted) return;
    }
    if (!route) return send(ctx, NOT_FOUND);
    noteMatch(ctx, route);
    ctx.routeId = route.id;
    ctx.routeName = route.name;
    ctx.serviceId = route.serviceId;
    ctx.serviceName = route.serviceName;
    if (route.broken) return send(ctx, route.broken);

    let chain: PluginChain = route.chain;
    ctx.plugins = chain.all;
    ctx.logPlugins = chain.log;

    // 2. the route's merged plugins: rewrite
    if (chain.rewrite.length) {
      reply = (pr = runPhase(ctx, chain.rewrite, 'rewrite')) instanceof Promise ? await pr : pr;
      if (reply) return send(ctx, reply);
      if (ctx.res.headersSent || ctx.aborted) return;
    }

    // 3. consumer merge (R-PIPE-6) and the consumer plugins' rewrite
    const consumer = ctx.consumer;
    if (consumer) {
      if ((consumer as { broken?: boolean }).broken) return send(ctx, UNAVAILABLE);
      if (consumer.plugins.length || (consumer as { disabled?: string[] }).disabled?.length) {
        const merged = consumerChain(route, consumer, log);
        chain = merged.chain;
        ctx.plugins = chain.all;
        ctx.logPlugins = chain.log;
        if (merged.consumerRewrite.length) {
          reply = (pr = runPhase(ctx, merged.consumerRewrite, 'rewrite')) instanceof Promise ? await pr : pr;
          if (reply) return send(ctx, reply);
          if (ctx.res.headersSent || ctx.aborted) return;
        }
      }
    }

    // 4. access
    if (chain.access.length) {
      reply = (pr = runPhase(ctx, chain.access, 'access')) instanceof Promise ? await pr : pr;
      if (reply) return send(ctx, reply);
      if (ctx.res.headersSent || ctx.aborted) return;
    }

    // 5. proxy: the AI plugin (R-PIPE-9/10) or plain upstream (R-UPS); an AI
    // plugin whose `_meta.filter` is false counts as absent (R-ADM-60)
    let pp = chain.proxy;
    if (pp?.filter && !pp.filter(ctx)) pp = proxyFallback(chain, pp, ctx);
    if (pp) {
      ctx.usageRead = usageAlwaysRead || chain.log.length > 0 || globals.log.length > 0;
      let r = pp.def.proxy!(ctx, pp.conf);
      if (r && typeof (r as Promise<unknown>).then === 'function') r = await r;
      if (isReply(r)) {
        // R-PROM-3: the gateway's own error page after upstream attempts
        // failed (transport failure, or nothing left to fall back to) is
        // `nginx`; the attempts themselves keep R-VAR-4's 502/504 statuses
        if (ctx.upstreamAttempts.length > 0 && r.status >= 500 && r.kind === 'page' && !ctx.res.headersSent && !ctx.aborted) ctx.responseSource = 'nginx';
        send(ctx, r);
      } else if (ctx.res.headersSent) ctx.responseSource ??= ctx.upstreamAttempts.length ? 'upstream' : 'apisix';
      else if (!ctx.aborted) {
        log.error(`plugin ${pp.def.name} proxy phase sent nothing`);
        send(ctx, INTERNAL);
      }
      return;
    }
    if (route.upstream) return proxyToUpstream(ctx, route.upstream, dispatchers);
    return send(ctx, UNAVAILABLE);
  }

  /** the next proxy-phase plugin of the chain whose filter holds (R-ADM-60), if any */
  function proxyFallback(chain: PluginChain, skipped: CompiledPlugin, ctx: ProxyContext): CompiledPlugin | undefined {
    for (const p of chain.all) {
      if (p === skipped || !p.def.proxy) continue;
      if (p.filter && !p.filter(ctx)) continue;
      return p;
    }
    return undefined;
  }

  /**
   * The log phases, global rules' first (R-PIPE-11). Like runPhase: plugins
   * that finish at once cost no promise; from the first that returns one on,
   * the rest runs after it. A failing plugin is logged and the next one runs.
   */
  function runLog(ctx: ProxyContext, rt: Runtime): Promise<void> | undefined {
    const globals = rt.globalChain.log;
    const pending = globals.length ? runLogFrom(ctx, globals, 0) : undefined;
    if (pending !== undefined) return pending.then(() => runLogFrom(ctx, ctx.logPlugins, 0));
    return runLogFrom(ctx, ctx.logPlugins, 0);
  }

  function runLogFrom(ctx: ProxyContext, list: readonly CompiledPlugin[], start: number): Promise<void> | undefined {
    for (let i = start; i < list.length; i++) {
      const p = list[i]!;
      try {
        if (p.filter && !p.filter(ctx)) continue;
        const r = p.def.log!(ctx, p.conf);
        if (r && typeof (r as Promise<void>).then === 'function') {
          return (r as Promise<void>).then(undefined, (err) => logPhaseFailed(p, err)).then(() => runLogFrom(ctx, list, i + 1));
        }
      } catch (err) {
        logPhaseFailed(p, err);
      }
    }
    return undefined;
  }

  function logPhaseFailed(p: CompiledPlugin, err: unknown): void {
    log.error(`plugin ${p.def.name} log phase failed: ${(err as Error)?.stack ?? err}`);
  }

  /** after the log phases: the access log line, the dashboard's and the terminal's counts */
  function logged(ctx: ProxyContext): void {
    try {
      accessLog.write(ctx);
    } catch (err) {
      log.error(`access log failed: ${(err as Error)?.message ?? err}`);
    }
    if (recent !== undefined) recent.record(ctx);
    if (traffic !== undefined) traffic.record(ctx.status, ctx.llmIfAny);
    done();
  }

  function finish(ctx: ProxyContext, rt: Runtime): void {
    let pending: Promise<void> | undefined;
    try {
      pending = runLog(ctx, rt);
    } catch (err) {
      log.error(`log phase failed: ${err}`);
    }
    if (pending === undefined) return logged(ctx);
    pending.then(() => logged(ctx), (err) => {
      log.error(`log phase failed: ${err}`);
      logged(ctx);
    });
  }

  function handler(req: IncomingMessage, res: ServerResponse): void {
    inFlight++;
    started++;
    let rt: Runtime;
    try {
      rt = holder.current;
    } catch (err) {
      log.error(`no runtime: ${(err as Error)?.message ?? err}`);
      sendReply(res, INTERNAL);
      done();
      return;
    }
    const ctx = new ProxyContext(req, res, log, rt);
    ctx.bodyTimeoutMs = bodyTimeoutMs;
    let closed = false;
    let settled = false;
    const maybeFinish = () => {
      if (closed && settled) finish(ctx, rt);
    };
    // 'close' is emitted once per response: `on` spares once()'s wrapper
    res.on('close', () => {
      if (!res.writableFinished) ctx.markAborted();
      closed = true;
      maybeFinish();
    });
    pipeline(ctx, rt).then(
      () => {
        settled = true;
        maybeFinish();
      },
      (err) => {
        // a stalled request body was already answered 408 (and logged) by the context
        if ((err as { code?: string })?.code !== BODY_TIMEOUT_CODE) {
          log.error(`request ${ctx.method} ${ctx.uri} failed: ${(err as Error)?.stack ?? err}`);
        }
        if (!res.headersSent && !ctx.aborted) send(ctx, INTERNAL);
        else if (!res.writableEnded) res.destroy();
        settled = true;
        maybeFinish();
      },
    );
  }

  return {
    handler,
    get inFlight() {
      return inFlight;
    },
    get started() {
      return started;
    },
    drained() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

export type { RuntimeRoute };
