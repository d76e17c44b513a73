// Worker side of the `policy: local` counters (R-WRK-2, R-QTA-1): a
// SharedState whose every call runs in the primary, on the one in-memory
// state of the node, so the counters are exact whatever worker a request
// lands on. Calls made in the same turn (up to its microtasks) travel in one
// message and come back in one message. Which methods exist is told by the primary (the
// async methods of its state), so this file follows the SharedState
// interface without naming its methods.
import type { SharedState } from '../state/types.js';
import type { RpcCall, RpcResult } from './messages.js';

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export interface RemoteCaller {
  call(m: string, a: unknown[]): Promise<unknown>;
  /** the primary's answers */
  settle(results: RpcResult[]): void;
  /** the primary is gone: fail everything pending and every later call */
  fail(reason: string): void;
}

export function createRemoteCaller(send: (calls: RpcCall[]) => void): RemoteCaller {
  let nextId = 1;
  let queue: RpcCall[] = [];
  let scheduled = false;
  let failed: string | undefined;
  const pending = new Map<number, Pending>();
  const flush = () => {
    scheduled = false;
    const calls = queue;
    queue = [];
    if (calls.length) send(calls);
  };
  return {
    call(m, a) {
      if (failed) return Promise.reject(new Error(failed));
      const id = nextId++;
      queue.push({ id, m, a });
      if (!scheduled) {
        scheduled = true;
        // at the end of this turn: calls made together share one message, and
        // a charge is on its way before the answer it belongs to reaches the
        // client (so a sequential client's next request sees it)
        queueMicrotask(flush);
      }
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    settle(results) {
      for (const r of results) {
        const p = pending.get(r.id);
        if (!p) continue;
        pending.delete(r.id);
        if (r.e !== undefined) p.reject(new Error(r.e));
        else p.resolve(r.v);
      }
    },
    fail(reason) {
      failed = reason;
      for (const p of pending.values()) p.reject(new Error(reason));
      pending.clear();
    },
  };
}

/** a SharedState whose methods `methods` run in the primary; close() is local */
export function createRemoteState(caller: RemoteCaller, methods: readonly string[]): SharedState {
  const state: Record<string, unknown> = {};
  for (const m of methods) {
    if (m === 'close') continue;
    state[m] = (...a: unknown[]) => caller.call(m, a);
  }
  state.close = async () => {};
  state.remote = true;
  return state as unknown as SharedState;
}

/** the method names a state object answers remotely (its functions but `close` and the diagnostic `size`) */
export function stateMethods(state: object): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(state)) if (typeof v === 'function' && k !== 'close' && k !== 'size') out.push(k);
  return out;
}
