// The messages between the primary and its proxy workers (R-WRK-1..3). Every
// message carries `sy` (its kind) so that other users of the IPC channel
// (none today) are ignored. The channel uses Node's "advanced" serialization
// (structured clone), so the payloads are plain data: no classes, no
// functions.
import type { GatewayConfig, ListenAddr } from '../config/types.js';
import type { ChangeEvent, StoredItem } from '../store/types.js';
import type { HealthTarget, PassiveKind } from '../core/health-types.js';

/** one batched call to a primary-owned object (`policy: local` counters) */
export interface RpcCall {
  id: number;
  /** method name, e.g. `charge` */
  m: string;
  a: unknown[];
}

export interface RpcResult {
  id: number;
  /** the value when the call succeeded */
  v?: unknown;
  /** the error message when it failed */
  e?: string;
}

/** the health of one checker group (parentKey + confHash) as the primary sees it */
export interface HealthGroupState {
  key: string;
  version: number;
  /** instance names currently not healthy */
  unhealthy: string[];
  /** R-PHC-2: instances cooling down, with the epoch ms their cool-down ends */
  cooling?: Array<[string, number]>;
  /** R-PHC-1: open trials offered to this worker (one worker at a time) */
  trial?: string[];
  /** healthy-class instances whose status is not `healthy` (their passive successes count) */
  wary?: string[];
}

export type ToPrimary =
  /** the worker's message listener is installed: send `init` */
  | { sy: 'hello' }
  /** every proxy listener of the worker is bound */
  | { sy: 'ready'; addresses: ListenAddr[] }
  /** the worker could not start (a listener failed to bind, ...) */
  | { sy: 'fail'; error: string }
  /** the configuration up to change `seq` is live in this worker */
  | { sy: 'ack'; seq: number }
  | { sy: 'rpc'; calls: RpcCall[] }
  | { sy: 'health.reg'; id: number; parentKey: string; confHash: string; targets: HealthTarget[] }
  | { sy: 'health.unreg'; id: number }
  /** R-PHC-3: what real traffic of the worker saw (passive health, cool-downs) */
  | { sy: 'health.obs'; id: number; name: string; kind: PassiveKind; status: number; retryAfterMs?: number }
  /** R-PHC-1: the worker sends the trial request it was offered */
  | { sy: 'health.claim'; id: number; name: string }
  /** whole lines for the file (or `stdout`) `target`, written by the primary */
  | { sy: 'lines'; target: string; label: string; data: string }
  | { sy: 'metrics.res'; id: number; metrics?: unknown[]; error?: string }
  /** the worker's traffic since its last such message (the terminal summary, issue #15) */
  | { sy: 'traffic'; requests: number; errors: number; tokens: number };

export type ToWorker =
  | {
      sy: 'init';
      worker: number;
      config: GatewayConfig;
      /** the feed position `items` reflect */
      seq: number;
      items: StoredItem[];
      /** the methods of the primary's SharedState (remote-state.ts) */
      stateMethods: string[];
      /** count traffic for the terminal summary and send it every second */
      trafficSummary?: boolean;
    }
  /** a store change; `reset` carries the whole new content */
  | { sy: 'change'; seq: number; ev: ChangeEvent; items?: StoredItem[] }
  | { sy: 'rpc.res'; results: RpcResult[] }
  | { sy: 'health'; groups: HealthGroupState[] }
  | { sy: 'metrics.req'; id: number }
  | { sy: 'stop'; graceMs: number };

export function isSy(msg: unknown): msg is { sy: string } {
  return typeof msg === 'object' && msg !== null && typeof (msg as { sy?: unknown }).sy === 'string';
}

/** the key of a health checker group, shared by both sides */
export function healthGroupKey(parentKey: string, confHash: string): string {
  return `${parentKey}\u0000${confHash}`;
}
