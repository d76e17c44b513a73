import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSchema } from '../../src/schema/validate.js';
import { aiRateLimiting } from '../../src/plugins/ai-rate-limiting/index.js';

function check(conf: unknown): string | undefined {
  const v = validateSchema(aiRateLimiting.schema, conf);
  if (!v.ok) return v.error;
  return aiRateLimiting.check?.(v.value, 'route');
}

test('R-RL-1 validation messages of the apisix tests', () => {
  assert.equal(check({ time_window: 60 }), 'property "limit" is required when "time_window" is set');
  assert.equal(check({ limit: 30 }), 'property "time_window" is required when "limit" is set');
  assert.equal(check({ limit: 30, time_window: 60, rejected_code: 199 }), 'property "rejected_code" validation failed: expected 199 to be at least 200');
  assert.equal(check({ limit: 30, time_window: 60, limit_strategy: 'invalid' }), 'property "limit_strategy" validation failed: matches none of the enum values');
  assert.equal(
    check({ limit: 30, time_window: 60, instances: [{ name: 'i1', limit: 30, time_window: 60 }, { limit: 30, time_window: 60 }] }),
    'property "instances" validation failed: failed to validate item 2: property "name" is required',
  );
  assert.equal(check({}), 'value should match only one schema, but matches none');
  assert.equal(check({ rejected_code: 429 }), 'value should match only one schema, but matches none');
});

test('R-RL-1 cost_expr checks', () => {
  assert.equal(check({ limit: 30, time_window: 60, limit_strategy: 'expression' }), "cost_expr is required when limit_strategy is 'expression'");
  assert.match(check({ limit: 30, time_window: 60, limit_strategy: 'expression', cost_expr: 'input_tokens +' }) ?? '', /^invalid cost_expr: /);
  assert.equal(check({ limit: 30, time_window: 60, limit_strategy: 'expression', cost_expr: 'input_tokens + output_tokens * 2' }), undefined);
});

test('R-RL-1 R-RL-20 valid configurations and defaults', () => {
  const v = validateSchema(aiRateLimiting.schema, { instances: [{ name: 'openai-instance', limit: 10, time_window: 60 }] });
  assert.ok(v.ok);
  assert.equal(v.value.limit_strategy, 'total_tokens');
  assert.equal(v.value.rejected_code, 503);
  assert.equal(v.value.show_limit_quota_header, true);
  assert.equal(v.value.policy, 'local');
  assert.equal(v.value.allow_degradation, false);
  assert.equal(check({ limit: '${http_x_limit ?? 30}', time_window: '$http_x_window' }), undefined);
  assert.equal(check({ limit: 10, time_window: 60, instances: [{ name: 'a', limit: 1, time_window: 1 }] }), undefined);
  assert.equal(check({ rules: [{ count: 20, time_window: 60, key: '$consumer_name', header_prefix: 'User' }] }), undefined);
  assert.match(check({ rules: [{ count: 20, time_window: 60 }] }) ?? '', /property "key" is required/);
  assert.match(check({ limit: 10, time_window: 60, rules: [{ count: 20, time_window: 60, key: '$remote_addr' }] }) ?? '', /matches both schemas/);
  assert.match(check({ limit: 0, time_window: 60 }) ?? '', /property "limit" validation failed/);
  assert.match(check({ instances: [] }) ?? '', /property "instances" validation failed: expect array to have at least 1 items/);
});

test('R-RL-30 policy attributes', () => {
  assert.match(check({ limit: 10, time_window: 60, policy: 'redis' }) ?? '', /property "redis_host" is required/);
  assert.match(check({ limit: 10, time_window: 60, policy: 'redis-cluster', redis_cluster_name: 'c' }) ?? '', /property "redis_cluster_nodes" is required/);
  assert.match(check({ limit: 10, time_window: 60, policy: 'redis-cluster', redis_cluster_nodes: ['127.0.0.1:7000'] }) ?? '', /property "redis_cluster_name" is required/);
  assert.match(check({ limit: 10, time_window: 60, policy: 'nope' }) ?? '', /property "policy" validation failed: matches none of the enum values/);
  assert.match(check({ limit: 10, time_window: 60, policy: 'redis', redis_host: 'x' }) ?? '', /redis_host/);
  assert.match(check({ limit: 10, time_window: 60, policy: 'redis', redis_host: 'localhost', redis_keepalive_timeout: 10 }) ?? '', /redis_keepalive_timeout/);
  const v = validateSchema(aiRateLimiting.schema, { limit: 10, time_window: 60, policy: 'redis', redis_host: '127.0.0.1', allow_degradation: true });
  assert.ok(v.ok);
  assert.equal(check({ limit: 10, time_window: 60, policy: 'redis-cluster', redis_cluster_nodes: ['127.0.0.1:7000'], redis_cluster_name: 'c' }), undefined);
});
