// The objects a running gateway owns and hands to what it compiles
// (CompileEnv: GCP tokens, Redis clients, metrics, shutdown scope), fresh for
// a test that compiles configurations without starting a gateway.
import { GcpTokenCache } from '../../src/llm/providers/gcp-token.js';
import { RedisPool } from '../../src/state/redis.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { GatewayScope } from '../../src/core/lifecycle.js';

export function gatewayServices() {
  return { gcpTokens: new GcpTokenCache(), redis: new RedisPool(), metrics: createMetrics(), scope: new GatewayScope() };
}
