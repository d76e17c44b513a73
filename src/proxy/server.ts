// STUB (owner: proxy/runtime helper): the data-plane request handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { AccessLog } from '../observability/access-log.js';
import type { Logger } from '../core/log.js';

export function createProxyHandler(_opts: { holder: RuntimeHolder; accessLog: AccessLog; log: Logger }) {
  return {
    handler(_req: IncomingMessage, res: ServerResponse) {
      res.statusCode = 404;
      res.end();
    },
  };
}
