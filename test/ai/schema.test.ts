import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSchema } from '../../src/schema/validate.js';
import { aiProxyMulti } from '../../src/plugins/ai-proxy-multi/index.js';
import { aiProxy } from '../../src/plugins/ai-proxy/index.js';

const inst = (o: Record<string, unknown> = {}) => ({ name: 'openai-instance', provider: 'openai', weight: 8, auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' }, ...o });
const check = (conf: any) => {
  const v = validateSchema(aiProxyMulti.schema, conf);
  if (!v.ok) return 'schema: ' + v.error;
  return aiProxyMulti.check!(v.value, 'route');
};

test('R-APM-1: seed configuration validates; defaults applied', () => {
  const v = validateSchema(aiProxyMulti.schema, { instances: [inst(), inst({ name: 'deepseek-instance', provider: 'deepseek', weight: 2 })] });
  assert.ok(v.ok);
  const c = (v as any).value;
  assert.equal(c.timeout, 30000);
  assert.equal(c.keepalive, true);
  assert.equal(c.keepalive_timeout, 60000);
  assert.equal(c.keepalive_pool, 30);
  assert.equal(c.ssl_verify, true);
  assert.deepEqual(c.balancer, { algorithm: 'roundrobin', hash_on: 'vars' });
  assert.equal(c.instances[0].priority, 0);
  assert.equal(aiProxyMulti.check!(c, 'route'), undefined);
  assert.ok(validateSchema(aiProxyMulti.schema, { instances: [inst()], fallback_strategy: 'instance_health_and_rate_limiting', unknown_top: 1 }).ok, 'unknown attributes accepted');
  assert.ok(validateSchema(aiProxyMulti.schema, { instances: [inst()], fallback_strategy: ['rate_limiting', 'http_429', 'http_5xx'] }).ok);
});

test('R-APM-1: schema errors name the field', () => {
  const cases: [unknown, string][] = [
    [{ instances: [inst({ weight: undefined })] }, 'weight'],
    [{ instances: [inst({ weight: -1 })] }, 'weight'],
    [{ instances: [inst({ weight: '2' })] }, 'weight'],
    [{ instances: [inst({ provider: 'foo' })] }, 'provider'],
    [{ instances: [] }, 'instances'],
    [{}, 'instances'],
    [{ instances: [inst({ name: '' })] }, 'name'],
    [{ instances: [inst({ auth: { headers: {} } })] }, 'headers'],
    [{ instances: [inst({ auth: { header: { 'bad name': 'x' } } })] }, 'bad name'],
    [{ instances: [inst()], timeout: 0 }, 'timeout'],
    [{ instances: [inst()], timeout: 600001 }, 'timeout'],
    [{ instances: [inst()], keepalive_timeout: 999 }, 'keepalive_timeout'],
    [{ instances: [inst()], balancer: { algorithm: 'random' } }, 'algorithm'],
    [{ instances: [inst()], balancer: { hash_on: 'headers' } }, 'hash_on'],
    [{ instances: [inst({ checks: {} })] }, 'active'],
    [{ instances: [inst({ checks: { active: { type: 'udp' } } })] }, 'type'],
    [{ instances: [inst({ checks: { active: { healthy: { successes: 255 } } } })] }, 'successes'],
  ];
  for (const [conf, field] of cases) {
    const v = validateSchema(aiProxyMulti.schema, conf);
    assert.equal(v.ok, false, JSON.stringify(conf));
    assert.ok((v as any).error.includes(field), `${(v as any).error} should name ${field}`);
  }
});

test('R-APM-2: vertex-ai needs exactly one of provider_conf and override', () => {
  const vx = (o: any) => validateSchema(aiProxyMulti.schema, { instances: [inst({ provider: 'vertex-ai', ...o })] });
  const bad = vx({});
  assert.equal(bad.ok, false);
  assert.match((bad as any).error, /failed to validate item 1: then clause did not match/);
  assert.equal(vx({ provider_conf: { project_id: 'p', region: 'r' }, override: { endpoint: 'http://x' } }).ok, false);
  assert.ok(vx({ provider_conf: { project_id: 'p', region: 'r' } }).ok);
  assert.ok(vx({ override: { endpoint: 'http://x/y' } }).ok);
  assert.ok(validateSchema(aiProxyMulti.schema, { instances: [inst({ provider_conf: { project_id: 'p', region: 'r' } })] }).ok, 'ignored for other providers');
});

test('R-APM-3: checks beyond the schema', () => {
  assert.equal(check({ instances: [inst({ override: { endpoint: 'ftp://x' } })] }), 'invalid endpoint');
  assert.equal(check({ instances: [inst({ override: { endpoint: 'http://[::1]:80/x' } })] }), 'invalid endpoint');
  assert.equal(check({ instances: [inst({ override: { endpoint: 'http://127.0.0.1:1980/x?y=1' } })] }), undefined);
  assert.match(check({ instances: [inst({ auth: { gcp: { service_account_json: '{bad' } } })] })!, /^invalid gcp service_account_json: /);
  assert.equal(check({ instances: [inst()], balancer: { algorithm: 'chash' } }), 'must configure `hash_key` when balancer `hash_on` is not set to cookie');
  assert.equal(check({ instances: [inst()], balancer: { algorithm: 'chash', hash_on: 'consumer' } }), undefined);
  assert.equal(check({ instances: [inst()], balancer: { algorithm: 'chash', key: 'remote_addr' } }), undefined);
  assert.equal(check({ instances: [inst()], balancer: { algorithm: 'chash', key: 'arg_user' } }), undefined);
  assert.equal(check({ instances: [inst()], balancer: { algorithm: 'chash', key: 'http_x' } }),
    'invalid configuration: failed to match pattern "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$" with "http_x"');
  assert.equal(check({ instances: [inst()], balancer: { algorithm: 'chash', hash_on: 'header', key: 'x y' } }),
    'invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "x y"');
});

test('R-APM-4: duplicate instance names', () => {
  assert.equal(check({ instances: [inst(), inst({ name: 'b' }), inst()] }), "duplicate instance name 'openai-instance' at instances[1] and instances[3]");
});

test('R-APM-5/R-APM-6: balancer without algorithm, endpoint-less openai-compatible accepted', () => {
  assert.equal(check({ instances: [inst()], balancer: {} }), undefined);
  assert.equal(check({ instances: [inst({ provider: 'openai-compatible' }), inst({ name: 'b', provider: 'azure-openai' })] }), undefined);
});

test('R-HC-1/R-HC-2: checks.active defaults applied; unhealthy.timeout accepted', () => {
  const v = validateSchema(aiProxyMulti.schema, { instances: [inst({ checks: { active: { http_path: '/p', unhealthy: { timeout: 4 } } } })] });
  assert.ok(v.ok);
  const a = (v as any).value.instances[0].checks.active;
  assert.equal(a.type, 'http');
  assert.equal(a.timeout, 1);
  assert.deepEqual(a.healthy.http_statuses, [200, 302]);
  assert.equal(a.unhealthy.http_failures, 5);
  assert.equal(a.unhealthy.timeout, 4);
});

test('R-AP-1/R-AP-2/R-AP-3: ai-proxy schema and checks', () => {
  const ok = validateSchema(aiProxy.schema, { provider: 'openai', auth: { header: { Authorization: 'Bearer k' } }, options: { model: 'gpt-4' } });
  assert.ok(ok.ok);
  assert.equal((ok as any).value.timeout, 30000);
  assert.equal(validateSchema(aiProxy.schema, { auth: {} }).ok, false);
  assert.equal(aiProxy.check!({ provider: 'openai', auth: {}, override: { endpoint: 'nope' } }, 'route'), 'invalid endpoint');
  assert.match(aiProxy.check!({ provider: 'openai', auth: { gcp: { service_account_json: 'x' } } }, 'route')!, /^invalid gcp service_account_json: /);
});
