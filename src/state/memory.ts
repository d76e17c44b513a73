// STUB (owner: rate-limiting helper): in-process SharedState.
import type { SharedState } from './types.js';

export function createMemoryState(): SharedState {
  const values = new Map<string, string>();
  return {
    async peek() { return { used: 0 }; },
    async charge() { return { used: 0 }; },
    async setValue(k, v) { values.set(k, v); },
    async getValue(k) { return values.get(k); },
    async close() {},
  };
}
