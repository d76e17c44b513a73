// conf/config.yaml loading and validation (CONTRACT, R-GEN-12, R-GEN-13, R-GEN-19, R-ALOG-3, R-ALOG-6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { substituteEnv } from '../../src/config/env.js';
import { DEFAULT_ACCESS_LOG_FORMAT } from '../../src/config/defaults.js';
import { REPO_ROOT } from '../helpers/gateway.js';

const CWD = '/srv/gw';
const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, '/srv/gw/conf/config.yaml', { cwd: CWD, env });

function rejects(text: string, message: string | RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(() => parse(text, env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `ConfigError expected, got ${err}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('R-GEN-19 CONTRACT an empty file gives every default', () => {
  const { config, warnings } = parse('');
  assert.deepEqual(warnings, []);
  assert.deepEqual(config, {
    file: '/srv/gw/conf/config.yaml',
    apisix: {
      node_listen: [{ ip: '0.0.0.0', port: 9080 }],
      enable_admin: true,
      enable_control: true,
      control: { ip: '127.0.0.1', port: 9090 },
      disable_upstream_healthcheck: false,
      data_encryption: { enable_encrypt_fields: true, keyring: [] },
    },
    deployment: {
      role: 'traditional',
      config_provider: 'local',
      data_dir: '/srv/gw/data',
      compact_every: 1000,
      admin: {
        admin_listen: { ip: '127.0.0.1', port: 9180 },
        admin_key: [{ name: 'admin', key: '', role: 'admin' }],
        admin_key_required: true,
        allow_admin: ['127.0.0.0/24'],
      },
      etcd: { host: ['http://127.0.0.1:2379'], prefix: '/apisix', timeout: 30 },
    },
    nginx_config: {
      worker_processes: availableParallelism(), // R-WRK-1: auto
      http: {
        enable_access_log: true,
        access_log: '/srv/gw/logs/access.log',
        access_log_format: DEFAULT_ACCESS_LOG_FORMAT,
        access_log_format_escape: 'default',
      },
    },
    plugin_attr: {
      prometheus: {
        export_uri: '/apisix/prometheus/metrics',
        export_addr: { ip: '127.0.0.1', port: 9091 },
        metric_prefix: 'apisix_',
        enable_export_server: true,
      },
    },
  });
});

test('R-ALOG-3 the default access_log_format is APISIX\'s', () => {
  assert.equal(
    parse('').config.nginx_config.http.access_log_format,
    '$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri" "$apisix_request_id"',
  );
});

test('R-GEN-19 CONTRACT every documented key is read', () => {
  const { config, warnings } = parse(`
apisix:
  node_listen:
    - 9081
    - {ip: 127.0.0.1, port: 0}
  enable_admin: false
  enable_control: false
  control: {port: 9999}
  disable_upstream_healthcheck: true
  data_encryption: {keyring: [edd1c9f0985e76a2]}
deployment:
  role: traditional
  role_traditional: {config_provider: etcd}
  local: {data_dir: /var/lib/sy}
  admin:
    admin_listen: {ip: 0.0.0.0, port: 19180}
    admin_key:
      - {name: boss, key: k1, role: admin}
      - {name: reader, key: k2, role: viewer}
    admin_key_required: false
    allow_admin: [10.0.0.0/8, 192.168.1.1, "::1"]
  etcd:
    host: ["http://10.0.0.1:2379", "https://10.0.0.2:2379"]
    prefix: /gw/
    timeout: 5
    user: root
    password: secret
nginx_config:
  http:
    enable_access_log: false
    access_log: stdout
    access_log_format: '$remote_addr $llm_model'
    access_log_format_escape: json
plugin_attr:
  prometheus:
    export_uri: /metrics
    export_addr: {ip: 0.0.0.0, port: 0}
    metric_prefix: sy_
    default_buckets: [1, 5, 10]
    llm_latency_buckets: [100, 1000]
    enable_export_server: false
`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.apisix, {
    node_listen: [{ ip: '0.0.0.0', port: 9081 }, { ip: '127.0.0.1', port: 0 }],
    enable_admin: false,
    enable_control: false,
    control: { ip: '127.0.0.1', port: 9999 },
    disable_upstream_healthcheck: true,
    data_encryption: { enable_encrypt_fields: true, keyring: ['edd1c9f0985e76a2'] },
  });
  assert.equal(config.deployment.config_provider, 'etcd');
  assert.equal(config.deployment.data_dir, '/var/lib/sy');
  assert.deepEqual(config.deployment.admin, {
    admin_listen: { ip: '0.0.0.0', port: 19180 },
    admin_key: [{ name: 'boss', key: 'k1', role: 'admin' }, { name: 'reader', key: 'k2', role: 'viewer' }],
    admin_key_required: false,
    allow_admin: ['10.0.0.0/8', '192.168.1.1', '::1'],
  });
  assert.deepEqual(config.deployment.etcd, {
    host: ['http://10.0.0.1:2379', 'https://10.0.0.2:2379'], prefix: '/gw', timeout: 5, user: 'root', password: 'secret',
  });
  assert.deepEqual(config.nginx_config.http, {
    enable_access_log: false, access_log: 'stdout', access_log_format: '$remote_addr $llm_model', access_log_format_escape: 'json',
  });
  assert.deepEqual(config.plugin_attr.prometheus, {
    export_uri: '/metrics', export_addr: { ip: '0.0.0.0', port: 0 }, metric_prefix: 'sy_',
    default_buckets: [1, 5, 10], llm_latency_buckets: [100, 1000], enable_export_server: false,
  });
});

test('R-GEN-15 R-ALOG-1 CONTRACT node_listen as a single int; relative paths resolve against the working directory', () => {
  const { config } = parse('apisix: {node_listen: 8080}\ndeployment: {local: {data_dir: ./state}}\nnginx_config: {http: {access_log: ../logs/a.log}}');
  assert.deepEqual(config.apisix.node_listen, [{ ip: '0.0.0.0', port: 8080 }]);
  assert.equal(config.deployment.data_dir, '/srv/gw/state');
  assert.equal(config.nginx_config.http.access_log, '/srv/logs/a.log');
});

test('R-ADM-2 allow_admin: absent or null = the default list, an explicitly empty list stays empty (denies everyone)', () => {
  assert.deepEqual(parse('deployment: {admin: {allow_admin: null}}').config.deployment.admin.allow_admin, ['127.0.0.0/24']);
  assert.deepEqual(parse('deployment: {admin: {allow_admin: []}}').config.deployment.admin.allow_admin, []);
});

test('R-GEN-12 ports out of range and wrong types name the key path', () => {
  rejects('deployment: {admin: {admin_listen: {port: abc}}}', 'deployment.admin.admin_listen.port: expected integer 0-65535, got "abc"');
  rejects('deployment: {admin: {admin_listen: {port: 65536}}}', 'deployment.admin.admin_listen.port: expected integer 0-65535, got 65536');
  rejects('apisix: {node_listen: -1}', 'apisix.node_listen: expected integer 0-65535, got -1');
  rejects('apisix: {node_listen: [9080, {ip: 127.0.0.1, port: 70000}]}', 'apisix.node_listen[1].port: expected integer 0-65535, got 70000');
  rejects('apisix: {node_listen: [{ip: 127.0.0.1}]}', 'apisix.node_listen[0].port: required');
  rejects('apisix: {node_listen: []}', 'apisix.node_listen: expected at least one listen address');
  rejects('apisix: {node_listen: "9080"}', 'apisix.node_listen: expected a port number or {ip, port}, got "9080"');
  rejects('apisix: {control: {port: 9.5}}', 'apisix.control.port: expected integer 0-65535, got 9.5');
  rejects('apisix: {control: {ip: nowhere}}', 'apisix.control.ip: expected an IP address, got "nowhere"');
  rejects('plugin_attr: {prometheus: {export_addr: {port: 1e6}}}', 'plugin_attr.prometheus.export_addr.port: expected integer 0-65535, got 1000000');
  rejects('apisix: {enable_admin: "yes"}', 'apisix.enable_admin: expected boolean, got "yes"');
  rejects('apisix: [1]', 'apisix: expected a mapping, got a list');
  rejects('deployment: {role: control_plane}', 'deployment.role: expected one of "traditional", "data_plane", got "control_plane"');
  rejects('deployment: {role: data_plane, role_data_plane: {config_provider: etcd}}', 'deployment.role_data_plane.config_provider: expected one of "yaml", got "etcd"');
  rejects('deployment: {role_traditional: {config_provider: yaml}}', 'deployment.role_traditional.config_provider: expected one of "local", "etcd", got "yaml"');
  rejects('deployment: {admin: {admin_key: [{name: a, key: k, role: root}]}}', 'deployment.admin.admin_key[0].role: expected one of "admin", "viewer", got "root"');
  rejects('deployment: {admin: {admin_key: [{key: k}]}}', 'deployment.admin.admin_key[0].name: required (a non-empty string)');
  rejects('deployment: {admin: {admin_key: [{name: a}, {name: a}]}}', 'deployment.admin.admin_key[1].name: duplicate name "a"');
  rejects('deployment: {admin: {admin_key: "k"}}', /^deployment\.admin\.admin_key: expected a list/);
  rejects('deployment: {admin: {allow_admin: [10.0.0.0/33]}}', 'deployment.admin.allow_admin[0]: expected an IP address or CIDR, got "10.0.0.0/33"');
  rejects('deployment: {admin: {admin_key_required: 0}}', 'deployment.admin.admin_key_required: expected boolean, got 0');
  rejects('deployment: {etcd: {host: ["127.0.0.1:2379"]}}', 'deployment.etcd.host[0]: expected an http(s)://host:port address, got "127.0.0.1:2379"');
  rejects('deployment: {etcd: {prefix: apisix}}', 'deployment.etcd.prefix: expected a path starting with "/", got "apisix"');
  rejects('deployment: {etcd: {timeout: 0}}', 'deployment.etcd.timeout: expected integer 1-3600, got 0');
  rejects('deployment: {local: {data_dir: ""}}', 'deployment.local.data_dir: expected a non-empty string, got ""');
  rejects('nginx_config: {http: {access_log_format_escape: xml}}', 'nginx_config.http.access_log_format_escape: expected one of "default", "json", got "xml"');
  rejects('nginx_config: {http: {access_log: 5}}', 'nginx_config.http.access_log: expected string, got 5');
  rejects('plugin_attr: {prometheus: {export_uri: metrics}}', 'plugin_attr.prometheus.export_uri: expected a path starting with "/", got "metrics"');
  rejects('plugin_attr: {prometheus: {default_buckets: [1, "x"]}}', 'plugin_attr.prometheus.default_buckets[1]: expected number, got "x"');
  rejects('plugin_attr: {prometheus: {default_buckets: [5, 1]}}', 'plugin_attr.prometheus.default_buckets[1]: expected numbers in increasing order, got 1 after 5');
  rejects('plugin_attr: {prometheus: {enable_export_server: null, metric_prefix: "a-b"}}', /^plugin_attr\.prometheus\.metric_prefix: expected a Prometheus metric name prefix/);
});

test('R-GEN-12 unknown keys outside APISIX sections are errors naming the key', () => {
  rejects('foo: 1', 'foo: unknown key');
  rejects('apisix: {}\nswitchyard: {x: 1}', 'switchyard: unknown key');
  rejects('- a\n- b', 'expected a mapping, got a list');
});

test('R-GEN-19 unknown keys under APISIX sections are accepted with a warning naming them', () => {
  const { config, warnings } = parse(`
apisix:
  node_listen: [{ip: 127.0.0.1, port: 9080, enable_http2: true}]
  enable_ipv6: false
  ssl: {enable: true}
deployment:
  admin: {enable_admin_cors: true, admin_listen: {port: 1}}
  etcd: {tls: {verify: false}}
nginx_config:
  error_log: logs/error.log
  http: {client_max_body_size: 0}
plugin_attr:
  log-rotate: {interval: 3600}
  prometheus: {prefer_name: true}
plugins: [ai-proxy-multi, key-auth]
stream_plugins: [ip-restriction]
graphql: {max_size: 1048576}
`);
  assert.deepEqual(warnings, [
    'ignored APISIX setting: graphql',
    'ignored APISIX setting: plugins',
    'ignored APISIX setting: stream_plugins',
    'ignored APISIX setting: apisix.enable_ipv6',
    'ignored APISIX setting: apisix.ssl',
    'ignored APISIX setting: apisix.node_listen[0].enable_http2',
    'ignored APISIX setting: deployment.admin.enable_admin_cors',
    'ignored APISIX setting: deployment.etcd.tls',
    'ignored APISIX setting: nginx_config.error_log',
    'ignored APISIX setting: nginx_config.http.client_max_body_size',
    'ignored APISIX setting: plugin_attr.log-rotate',
    'ignored APISIX setting: plugin_attr.prometheus.prefer_name',
  ]);
  assert.equal(config.deployment.admin.admin_listen.port, 1);
});

test('R-ALOG-6 R-GEN-12 an access_log_format with an unknown variable is a warning naming it', () => {
  const { warnings } = parse(`nginx_config: {http: {access_log_format: '$remote_addr "$request_line" $http_x_foo \${nope} $nope_either $arg_q $llm_prompt_tokens'}}`);
  assert.deepEqual(warnings, [
    'nginx_config.http.access_log_format: unknown variable $nope (logged as "-")',
    'nginx_config.http.access_log_format: unknown variable $nope_either (logged as "-")',
  ]);
});

test('R-GEN-13 ${{NAME}} and ${{NAME:=default}} are substituted on the raw text before parsing', () => {
  const env = { PORT: '9555', KEY: 'abc123', PROVIDER: 'local' };
  const { config } = parse(`
apisix:
  node_listen: \${{PORT}}
deployment:
  role_traditional: {config_provider: \${{ PROVIDER }}}
  local: {data_dir: "\${{DATA:=/tmp/sy-data}}"}
  admin:
    admin_key: [{name: admin, key: "\${{KEY}}", role: admin}]
    admin_listen: {port: \${{ADMIN_PORT:=9181}}}
  # a comment mentioning \${{NOT_SET}} is not an error
`, env);
  assert.deepEqual(config.apisix.node_listen, [{ ip: '0.0.0.0', port: 9555 }]);
  assert.equal(config.deployment.data_dir, '/tmp/sy-data');
  assert.equal(config.deployment.admin.admin_key[0]!.key, 'abc123');
  assert.equal(config.deployment.admin.admin_listen.port, 9181);
  assert.equal(substituteEnv('a: ${{X:=}}', {}), 'a: ');
  assert.equal(substituteEnv('a: ${{X:=1}}', { X: '2' }), 'a: 2');
});

test('R-GEN-13 an unset variable without default is an error naming the variable', () => {
  rejects('apisix:\n  node_listen: ${{SWITCHYARD_NOT_SET}}', /line 2: environment variable SWITCHYARD_NOT_SET is not set/);
});

test('R-GEN-12 YAML syntax errors and unreadable files are ConfigErrors', () => {
  rejects('apisix: {node_listen: [', /^invalid YAML in \/srv\/gw\/conf\/config\.yaml at line 1, column \d+: /);
  rejects('apisix: {}\napisix: {}', /^invalid YAML in .* at line 2, column 1: .*[Mm]ap keys must be unique/);
  assert.throws(() => loadConfig('/nonexistent/config.yaml'), /cannot read \/nonexistent\/config\.yaml: no such file/);
});

test('R-GEN-14 R-GEN-15 CONTRACT the shipped conf/config.yaml loads without warnings: empty admin key, local store, default ports', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-conf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { config, warnings } = loadConfig(path.join(REPO_ROOT, 'conf/config.yaml'), { cwd: dir, env: {} });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.deployment.admin.admin_key, [{ name: 'admin', key: '', role: 'admin' }]);
  assert.equal(config.deployment.config_provider, 'local');
  assert.deepEqual(config.apisix.node_listen, [{ ip: '0.0.0.0', port: 9080 }]);
  assert.deepEqual(config.deployment.admin.admin_listen, { ip: '127.0.0.1', port: 9180 });
  assert.equal(config.deployment.data_dir, path.join(dir, 'data'));
  // and a file written to disk loads the same way as parsed text
  const f = path.join(dir, 'c.yaml');
  writeFileSync(f, 'apisix: {node_listen: 1234}');
  assert.deepEqual(loadConfig(f, { cwd: dir }).config.apisix.node_listen, [{ ip: '0.0.0.0', port: 1234 }]);
});

test('issue #15 the shipped conf/config.yaml logs the seed\'s LLM access-log format: model and tokens by default', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-conf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { config, warnings } = loadConfig(path.join(REPO_ROOT, 'conf/config.yaml'), { cwd: dir, env: {} });
  assert.deepEqual(warnings, []);
  const format = config.nginx_config.http.access_log_format;
  assert.notEqual(format, DEFAULT_ACCESS_LOG_FORMAT);
  // the seed's format (test/observability/access-log.e2e.test.ts runs it through the CLI)
  assert.ok(format.endsWith('"$apisix_upstream_response_time" "$request_type" "$llm_time_to_first_token" "$llm_model" "$request_llm_model"  "$llm_prompt_tokens" "$llm_completion_tokens"'), format);
  assert.ok(format.startsWith('$remote_addr - $remote_user [$time_local] $http_host "$request_line" $status'), format);
});

test('R-CFG-1 a key neither switchyard nor APISIX 3.16 has is an error with "did you mean"', () => {
  rejects('apisix: {node_lisen: 9080}', 'apisix.node_lisen: unknown key (did you mean apisix.node_listen?)');
  rejects('deployment: {admin: {admin_lisen: {port: 9180}}}', 'deployment.admin.admin_lisen: unknown key (did you mean deployment.admin.admin_listen?)');
  rejects('apisix: {zzzzzz_qqqq: 1}', 'apisix.zzzzzz_qqqq: unknown key');
  // an APISIX 3.16 key switchyard does not implement is still only a warning
  assert.deepEqual(parse('apisix: {enable_ipv6: true}').warnings, ['ignored APISIX setting: apisix.enable_ipv6']);
});

test('R-CFG-1 a YAML syntax error shows the offending line with a caret', () => {
  rejects('apisix:\n  node_listen: 9080\n enable_admin: true\n',
    /^invalid YAML in \/srv\/gw\/conf\/config\.yaml at line 3, column 1: .+\n {3}enable_admin: true\n {2}\^$/);
});
