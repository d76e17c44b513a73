// The consumer lookup auth plugins use (R-KA-4, R-KA-8). Kept free of
// imports of the plugin registry so plugins can import it without cycles.
import type { ConsumerIndex, RequestContext } from '../core/types.js';

export type { ConsumerIndex };

/** the consumer index of the Runtime the request runs with */
export function consumersOf(ctx: RequestContext): ConsumerIndex | undefined {
  return ctx.runtime?.consumers;
}
