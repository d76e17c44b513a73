// The health-check interfaces live in core (src/core/health-types.ts) so that
// core/types.ts can name them without importing a higher layer.
export * from '../../core/health-types.js';
