// R-ADM-70: writes that APISIX accepts but that are probably mistakes succeed
// with "warnings" in the answer, a warn line in the error log, and the same
// lines printed by `switchyard sync`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectWarnings } from '../../src/admin/warnings.js';
import { validateResource } from '../../src/admin/validate.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { until } from '../helpers/wait.js';
import { cliConfig, runCli, writeYaml } from '../declarative/util.js';

const UNSET = 'SWITCHYARD_TEST_SURELY_UNSET_VAR';

function multi(extra: Record<string, unknown> = {}, instance: Record<string, unknown> = {}) {
  return {
    instances: [
      {
        name: 'openai-instance',
        provider: 'openai',
        weight: 8,
        auth: { header: { Authorization: 'Bearer sk-x' } },
        options: { model: 'gpt-4', temperature: 0.2, max_tokens: 10 },
        ...instance,
      },
      { name: 'deepseek-instance', provider: 'deepseek', weight: 2, auth: { header: { Authorization: 'Bearer sk-y' } } },
    ],
    ...extra,
  };
}

const route = (plugins: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ uri: '/anything', plugins, ...extra });
const noLookup = () => undefined;

test('R-ADM-70: a typo in a plugin attribute is a warning with "did you mean"', () => {
  const w = collectWarnings('routes', route({ 'ai-proxy-multi': multi({ fallback_stratgy: 'http_429' }, { overide: { endpoint: 'http://x' } }) }), noLookup, {});
  assert.deepEqual(w.sort(), [
    'plugins.ai-proxy-multi.fallback_stratgy: unknown attribute, ignored; did you mean fallback_strategy?',
    'plugins.ai-proxy-multi.instances[0].overide: unknown attribute, ignored; did you mean override?',
  ]);
});

test('R-ADM-70: a correct configuration has no warnings; model options and _meta are not attributes to check', () => {
  const conf = route({
    'ai-proxy-multi': multi({ fallback_strategy: 'http_429', _meta: { disable: false } }),
    'ai-rate-limiting': { instances: [{ name: 'openai-instance', limit: 10, time_window: 60 }] },
    'key-auth': {},
  });
  const r = validateResource('routes', '1', { id: '1', ...conf }, noLookup, { env: {} });
  assert.equal(r.ok, true);
  assert.equal((r as { warnings?: string[] }).warnings, undefined);
});

test('R-ADM-70: an ai-rate-limiting instance name that no ai-proxy-multi instance of the route has', () => {
  const w = collectWarnings('routes', route({
    'ai-proxy-multi': multi(),
    'ai-rate-limiting': { instances: [{ name: 'openai-instanse', limit: 10, time_window: 60 }, { name: 'deepseek-instance', limit: 5, time_window: 60 }] },
  }), noLookup, {});
  assert.deepEqual(w, ['plugins.ai-rate-limiting.instances[0].name: no ai-proxy-multi instance of this route is named "openai-instanse"; did you mean openai-instance?']);
});

test('R-ADM-70: the instances may come from the route\'s service; without any ai-proxy-multi the name matches nothing', () => {
  const svc = { plugins: { 'ai-proxy-multi': multi() } };
  const lookup = (k: string) => (k === '/apisix/services/s1' ? svc : undefined);
  const limits = { 'ai-rate-limiting': { instances: [{ name: 'deepseek-instance', limit: 5, time_window: 60 }] } };
  assert.deepEqual(collectWarnings('routes', route(limits, { service_id: 's1' }), lookup, {}), []);
  assert.deepEqual(collectWarnings('routes', route(limits), noLookup, {}), [
    'plugins.ai-rate-limiting.instances[0].name: "deepseek-instance" names no instance: this route has no ai-proxy-multi',
  ]);
});

test('R-ADM-70: $env:// and ${{VAR}} references to unset variables', () => {
  const conf = route({
    'ai-proxy-multi': multi({}, { auth: { header: { Authorization: `$env://${UNSET}` } } }),
    'key-auth': {},
  }, { desc: `key \${{${UNSET}}} and \${{${UNSET}:=fallback}} and \${{HOME_SET}}` });
  const w = collectWarnings('routes', conf, noLookup, { HOME_SET: '1' });
  assert.deepEqual(w, [
    `plugins.ai-proxy-multi.instances[0].auth.header.Authorization: environment variable ${UNSET} is not set ($env://${UNSET} is used literally)`,
    `desc: environment variable ${UNSET} is not set`,
  ]);
  assert.deepEqual(collectWarnings('routes', conf, noLookup, { [UNSET]: 'v', HOME_SET: '1' }), []);
});

test('R-ADM-70: consumer plugins are checked against the consumer schema', () => {
  const w = collectWarnings('consumers', { username: 'jack', plugins: { 'key-auth': { key: 'k', hide_credential: true } } }, noLookup, {});
  assert.equal(w.length, 1);
  assert.match(w[0]!, /^plugins\.key-auth\.hide_credential: unknown attribute, ignored/);
});

let gw: GatewayProcess;
test.before(async () => {
  gw = await startGateway();
});
test.after(async () => {
  await gw?.stop();
});

test('R-ADM-70: the Admin API stores the value, answers with "warnings" and logs each at warn', async () => {
  const body = route({ 'ai-proxy-multi': multi({ fallback_stratgy: 'http_429' }) });
  for (const [method, path, status] of [['PUT', '/apisix/admin/routes/w1', 201], ['PUT', '/apisix/admin/routes/w1', 200], ['POST', '/apisix/admin/routes', 201]] as const) {
    const r = await gw.admin(method, path, body);
    assert.equal(r.status, status, r.text);
    assert.deepEqual(r.body.warnings, ['plugins.ai-proxy-multi.fallback_stratgy: unknown attribute, ignored; did you mean fallback_strategy?']);
    assert.equal(r.body.value.plugins['ai-proxy-multi'].fallback_stratgy, 'http_429', 'stored as written, as APISIX does');
  }
  const fixed = await gw.admin('PATCH', '/apisix/admin/routes/w1', { plugins: { 'ai-proxy-multi': { fallback_stratgy: null, fallback_strategy: 'http_429' } } });
  assert.equal(fixed.status, 200, fixed.text);
  assert.equal(fixed.body.warnings, undefined);
  await until(() => /\[warn\] \/apisix\/routes\/w1: plugins\.ai-proxy-multi\.fallback_stratgy: unknown attribute, ignored; did you mean fallback_strategy\?/.test(gw.stderr()));
  const got = await gw.admin('GET', '/apisix/admin/routes/w1');
  assert.equal(got.body.warnings, undefined, 'reads carry no warnings');
});

test('R-ADM-70: switchyard sync prints the warnings on stderr and still applies', async () => {
  const config = cliConfig(gw);
  const file = writeYaml(gw.dir, 'typo.yaml', {
    services: [{
      name: 'svc',
      routes: [{
        name: 'typo-route',
        uris: ['/typo'],
        plugins: { 'ai-proxy-multi': multi({}, { overide: { endpoint: 'http://127.0.0.1:1' }, auth: { header: { Authorization: `Bearer \${${UNSET}}` } } }) },
      }],
    }],
  });
  const r = await runCli(['sync', '-c', config, '-f', file], { cwd: gw.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /create route "typo-route"/);
  assert.match(r.stderr, /switchyard sync: warning: .*typo\.yaml: .*plugins\.ai-proxy-multi\.instances\[0\]\.overide: unknown attribute, ignored; did you mean override\?\n/);
  // an ADC ${NAME} reference to an unset variable becomes an empty string: said, with its line
  assert.match(r.stderr, new RegExp(`switchyard sync: warning: .*typo\\.yaml: line \\d+: environment variable ${UNSET} is not set: \\$\\{${UNSET}\\} becomes an empty string\\n`));
});

test('R-ADM-70 R-SA-1: a standalone conf/apisix.yaml with a typo is served, and the warning is logged', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const YAML = (await import('yaml')).default;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-standalone-warn-'));
  writeFileSync(path.join(dir, 'apisix.yaml'), YAML.stringify({
    routes: [{ id: 'w', uri: '/w', plugins: { 'ai-proxy-multi': multi({ fallback_stratgy: 'http_429' }) } }],
  }) + '#END\n');
  const sa = await startGateway({
    dir,
    rawConfig: YAML.stringify({
      apisix: { node_listen: [{ ip: '127.0.0.1', port: 0 }], enable_control: false },
      deployment: { role: 'data_plane', role_data_plane: { config_provider: 'yaml' } },
      nginx_config: { worker_processes: 1, http: { enable_access_log: false } },
      plugin_attr: { prometheus: { export_addr: { ip: '127.0.0.1', port: 0 } } },
    }),
  });
  t.after(() => sa.kill());
  await until(() => /\[warn\] .*apisix\.yaml: routes\[0\]: plugins\.ai-proxy-multi\.fallback_stratgy: unknown attribute, ignored; did you mean fallback_strategy\?/.test(sa.stderr()), 5000, 'the warning');
});
