// STUB (owner: health-check helper): the Control API (R-CTL).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthService } from '../llm/health/types.js';

export function createControlHandler(_deps: { health: HealthService }) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.statusCode = 404;
    res.end();
  };
}
