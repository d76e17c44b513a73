// The SharedState interface lives in core (src/core/shared-state.ts) so that
// core/types.ts can name it without importing a higher layer.
export * from '../core/shared-state.js';
