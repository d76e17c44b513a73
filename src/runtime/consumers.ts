// The consumer lookup auth plugins use (R-KA-4, R-KA-8). Kept free of
// imports of the plugin registry so plugins can import it without cycles.
import type { ConsumerInfo, RequestContext } from '../core/types.js';

export interface ConsumerIndex {
  /** the consumer whose key-auth key equals `key` (R-KA-4) */
  findByKey(key: string): (ConsumerInfo & { broken?: boolean }) | undefined;
  findByName(username: string): (ConsumerInfo & { broken?: boolean }) | undefined;
  readonly size: number;
}

/** the consumer index of the Runtime the request runs with */
export function consumersOf(ctx: RequestContext): ConsumerIndex | undefined {
  return (ctx as unknown as { runtime?: { consumers?: ConsumerIndex } }).runtime?.consumers;
}
