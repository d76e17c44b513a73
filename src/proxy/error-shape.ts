// R-ERR-1: a gateway-produced error on a route whose request speaks an AI
// protocol is answered in that protocol's JSON error shape, so that the
// client SDKs show its message. Applied once, where the proxy sends replies.
import { STATUS_CODES } from 'node:http';
import type { Reply, RequestContext } from '../core/types.js';
import { reasonPhrase } from '../core/errors.js';
import { errorProtocol } from '../llm/protocols/index.js';

/** the message of `reply`: its error_msg (or message), its text, or the status line of its page */
export function replyMessage(reply: Reply): string {
  if (reply.kind === 'json') {
    const b = reply.body as Record<string, unknown> | undefined;
    if (typeof b?.error_msg === 'string') return b.error_msg;
    if (typeof b?.message === 'string') return b.message;
  } else if (reply.kind === 'text' && typeof reply.body === 'string' && reply.body.trim() !== '') {
    return reply.body.trim();
  }
  return `${reply.status} ${reasonPhrase(reply.status, (s) => STATUS_CODES[s])}`;
}

/** `reply` in the error shape of the request's AI protocol; unchanged when it is not an error of an AI route */
export function shapeAiError(ctx: RequestContext, reply: Reply): Reply {
  if (reply.status < 400 || reply.verbatim === true) return reply;
  let ai = false;
  for (const p of ctx.plugins) if (p.def.proxy !== undefined) ai = true;
  if (!ai) return reply;
  const protocol = errorProtocol(ctx.llm.clientProtocol, ctx.uri, ctx.parsedBody);
  if (protocol === undefined) return reply;
  const shaped = protocol.errorBody(reply.status, replyMessage(reply));
  // members APISIX sends besides error_msg (key-auth's `message`) are kept
  const body = reply.kind === 'json' && reply.body && typeof reply.body === 'object' ? { ...(reply.body as object), ...shaped } : shaped;
  return { status: reply.status, kind: 'json', body, headers: reply.headers };
}
