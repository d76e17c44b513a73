// Writes a gateway-produced Reply (R-GEN-1..4). Used by every listener.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Reply } from './types.js';
import { errorPage, reasonPhrase } from './errors.js';
import { SERVER_HEADER } from './version.js';

export function renderReply(reply: Reply): { contentType: string; body: string } {
  switch (reply.kind) {
    case 'json':
      return { contentType: 'application/json', body: JSON.stringify(reply.body ?? {}) + '\n' };
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: String(reply.body ?? '') };
    default:
      return {
        contentType: 'text/html',
        body: errorPage(reply.status, reasonPhrase(reply.status, (s) => STATUS_CODES[s])),
      };
  }
}

/** the headers and body bytes of `reply` (the proxy's writer adds Server and the extra headers) */
export function replyParts(reply: Reply): { headers: Record<string, string | number | string[]>; body: Buffer } {
  const { contentType, body } = renderReply(reply);
  const buf = Buffer.from(body);
  const headers: Record<string, string | number | string[]> = {};
  if (reply.headers) for (const k in reply.headers) headers[k] = reply.headers[k]!;
  headers['content-type'] = contentType;
  headers['content-length'] = buf.length;
  return { headers, body: buf };
}

/** send `reply` unless headers were already sent; `extra` headers are added first */
export function sendReply(res: ServerResponse, reply: Reply, extra?: Record<string, string>): number {
  if (res.headersSent) return 0;
  const { contentType, body } = renderReply(reply);
  const buf = Buffer.from(body);
  if (extra) for (const k in extra) res.setHeader(k, extra[k]!);
  if (reply.headers) for (const k in reply.headers) res.setHeader(k, reply.headers[k]!);
  res.setHeader('Server', SERVER_HEADER);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', buf.length);
  res.statusCode = reply.status;
  res.end(buf);
  return buf.length;
}
