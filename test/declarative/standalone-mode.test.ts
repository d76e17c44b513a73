// R-SA-1 through the real CLI: APISIX standalone mode. A data plane serves
// conf/apisix.yaml (beside config.yaml), follows it when it is renamed into
// place or rewritten in place, keeps the previous configuration (and logs
// why) when the new file is broken, and has no Admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { CLI, startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startMockLlm, chatCompletion, type MockLlm } from '../helpers/mock-llm.js';
import { freePort } from '../helpers/etcd.js';
import { until } from '../helpers/wait.js';

function configYaml(adminPort: number, workers: number): string {
  return YAML.stringify({
    apisix: { node_listen: [{ ip: '127.0.0.1', port: 0 }], control: { ip: '127.0.0.1', port: 0 } },
    deployment: {
      role: 'data_plane',
      role_data_plane: { config_provider: 'yaml' },
      admin: { admin_listen: { ip: '127.0.0.1', port: adminPort } },
    },
    nginx_config: { worker_processes: workers, http: { enable_access_log: false } },
    plugin_attr: { prometheus: { export_addr: { ip: '127.0.0.1', port: 0 } } },
  });
}

/** an APISIX standalone file: one route per uri to the mock, a consumer with a key-auth credential */
function apisixYaml(mock: MockLlm, uris: string[], end = '#END\n'): string {
  const host = new URL(mock.url).host;
  return YAML.stringify({
    upstreams: [{ id: 'mock', type: 'roundrobin', nodes: { [host]: 1 } }],
    routes: uris.map((uri, i) => ({ id: `r${i}`, uri, upstream_id: 'mock' })),
    consumers: [{ username: 'jack' }, { id: 'jack/credentials/c1', plugins: { 'key-auth': { key: 'jack-key' } } }],
  }) + end;
}

const status = async (gw: GatewayProcess, p: string) => {
  const r = await fetch(gw.proxyUrl + p);
  await r.arrayBuffer();
  return r.status;
};

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

for (const workers of [1, 2]) {
  test(`R-SA-1 standalone, worker_processes ${workers}: serves conf/apisix.yaml, follows rename-into-place and in-place writes, keeps serving through a broken file, Admin API off`, { timeout: 60_000 }, async (t) => {
    const mock = await startMockLlm();
    mock.reply({ json: chatCompletion('gpt-4') });
    t.after(() => mock.close());
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-standalone-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'apisix.yaml');
    writeFileSync(file, apisixYaml(mock, ['/one']));
    const adminPort = await freePort();
    const gw = await startGateway({ dir, rawConfig: configYaml(adminPort, workers) });
    t.after(() => gw.kill());

    assert.equal(await status(gw, '/one'), 200);
    assert.equal(await status(gw, '/two'), 404);
    assert.ok(await refused(adminPort), 'the Admin API port refuses connections');
    assert.match(gw.stderr(), /standalone mode: the Admin API is off/);

    // rename into place (what Kubernetes ConfigMaps and careful tools do)
    writeFileSync(path.join(dir, 'apisix.yaml.tmp'), apisixYaml(mock, ['/two']));
    renameSync(path.join(dir, 'apisix.yaml.tmp'), file);
    await until(async () => (await status(gw, '/two')) === 200, 10_000, '/two to be served after the rename');
    assert.equal(await status(gw, '/one'), 404, 'the old route is gone');

    // in-place write
    writeFileSync(file, apisixYaml(mock, ['/two', '/three']));
    await until(async () => (await status(gw, '/three')) === 200, 10_000, '/three to be served after the in-place write');

    // broken files: the previous configuration keeps serving, the log says why
    const marks: Array<[string, RegExp]> = [
      [apisixYaml(mock, ['/four'], ''), /not reloaded, the previous one keeps serving: .*apisix\.yaml: missing the #END line/],
      [apisixYaml(mock, ['/four']).replace('uri: /four', 'uri: 42'), /not reloaded, the previous one keeps serving: .*apisix\.yaml: routes\[0\]\.uri: invalid configuration: property "uri" validation failed/],
      [apisixYaml(mock, ['/four']).replace('upstream_id: mock', 'upstream_id: nowhere'), /not reloaded, the previous one keeps serving: .*upstream_id "nowhere" does not name an upstream declared in the files/],
      ['routes: [\n  {uri: /four\n#END\n', /not reloaded, the previous one keeps serving: .*apisix\.yaml: line \d+, column \d+: invalid YAML/],
    ];
    for (const [text, logged] of marks) {
      const before = gw.stderr().length;
      writeFileSync(file, text);
      await until(() => logged.test(gw.stderr().slice(before)), 10_000, `the log line ${logged}`);
      assert.equal(await status(gw, '/three'), 200, 'the previous configuration still serves');
      assert.equal(await status(gw, '/four'), 404, 'nothing of the broken file is served');
    }
    // and a good file is picked up again, with the consumer's key
    writeFileSync(file, apisixYaml(mock, ['/five']));
    await until(async () => (await status(gw, '/five')) === 200, 10_000, '/five after the broken files');
    assert.equal(await status(gw, '/three'), 404);
  });
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('R-SA-1 switchyard validate checks conf/apisix.yaml too; a data plane without a valid file does not start', async (t) => {
  const mock = await startMockLlm();
  t.after(() => mock.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-standalone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'config.yaml');
  const file = path.join(dir, 'apisix.yaml');
  writeFileSync(conf, configYaml(await freePort(), 1));

  let r = cli('validate', '-c', conf);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `switchyard: invalid standalone configuration: ${file}: cannot read file: no such file\n`);

  writeFileSync(file, apisixYaml(mock, ['/one']));
  r = cli('validate', '-c', conf);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${conf}: ok\n${file}: ok (4 items)\n`);

  // R-ADM-70: what the Admin API would accept with a warning is accepted with the same warning
  writeFileSync(file, apisixYaml(mock, ['/one']).replace('upstream_id: mock', 'upstream_id: mock\n    plugins: {ai-proxy-multi: {fallback_stratgy: http_429, instances: [{name: a, provider: openai, weight: 1, auth: {header: {Authorization: "Bearer x"}}}]}}'));
  r = cli('validate', '-c', conf);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `warning: ${file}: routes[0]: plugins.ai-proxy-multi.fallback_stratgy: unknown attribute, ignored; did you mean fallback_strategy?\n`);

  writeFileSync(file, apisixYaml(mock, ['/one']).replace("'jack-key'", '42').replace('key: jack-key', 'key: 42'));
  r = cli('validate', '-c', conf);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^switchyard: invalid standalone configuration: .*apisix\.yaml: consumers\[1\]\.plugins: .*key-auth.*"key" validation failed/);

  r = spawnSync(process.execPath, [CLI, 'start', '-c', conf], { encoding: 'utf8', timeout: 20_000 }) as never;
  const start = r as unknown as { status: number; stderr: string };
  assert.equal(start.status, 1);
  assert.match(start.stderr, /switchyard: failed to start: .*apisix\.yaml: consumers\[1\]\.plugins: /);
});
