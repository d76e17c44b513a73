// Strict validation of the parsed conf/config.yaml with defaults (CONTRACT,
// R-GEN-12, R-GEN-19). Every error names its key path; unknown keys under
// APISIX's own sections are warnings, anywhere else errors.
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from './errors.js';
import * as D from './defaults.js';
import { unknownLogVariables } from '../core/vars.js';
import { APISIX_KEYS, APISIX_KEY_DEPTH } from './apisix-keys.js';
import { closest } from './suggest.js';
import type { AdminKey, GatewayConfig, ListenAddr } from './types.js';

type Obj = Record<string, unknown>;

/** R-CFG-1: APISIX 3.16 has this dotted key (or it lies below a key the data lists at full depth / under plugin_attr.<plugin>). */
function isApisixKey(key: string): boolean {
  if (APISIX_KEYS.has(key)) return true;
  const list = key.indexOf('[');
  if (list > 0) return APISIX_KEYS.has(key.slice(0, list)); // a field of a list item (node_listen[0].enable_http2)
  const parts = key.split('.');
  if (parts[0] === 'plugin_attr' && parts.length > 2) return true;
  return parts.length > APISIX_KEY_DEPTH && APISIX_KEYS.has(parts.slice(0, APISIX_KEY_DEPTH).join('.'));
}

export interface NormalizeOptions {
  /** absolute path of the file (GatewayConfig.file) */
  file: string;
  /** base of relative paths (data_dir, access_log); default process.cwd() */
  cwd?: string;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

const join = (p: string, k: string | number): string => (typeof k === 'number' ? `${p}[${k}]` : p ? `${p}.${k}` : k);
const fail = (p: string, msg: string): never => {
  throw new ConfigError(p, msg);
};
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Reader {
  readonly warnings: string[] = [];

  /**
   * A mapping with the given known keys. Missing/null = empty. Unknown keys
   * warn when `apisix` (under an APISIX section), else fail.
   */
  section(v: unknown, p: string, known: readonly string[], apisix: boolean): Obj {
    if (v === undefined || v === null) return {};
    if (!isObj(v)) return fail(p, `expected a mapping, got ${describe(v)}`);
    for (const k of Object.keys(v)) {
      if (known.includes(k)) continue;
      const key = join(p, k);
      if (apisix && isApisixKey(key)) { this.warnings.push(`ignored APISIX setting: ${key}`); continue; }
      // R-CFG-1: neither switchyard nor APISIX 3.16 has this key
      const siblings = new Set(known.map((s) => join(p, s)));
      for (const a of APISIX_KEYS) if (a.startsWith(p ? `${p}.` : '') && !a.slice(p ? p.length + 1 : 0).includes('.')) siblings.add(a);
      const near = closest(key, siblings);
      fail(key, near ? `unknown key (did you mean ${near}?)` : 'unknown key');
    }
    return v;
  }

  bool(v: unknown, p: string, def: boolean): boolean {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') return fail(p, `expected boolean, got ${describe(v)}`);
    return v;
  }

  int(v: unknown, p: string, def: number, min: number, max: number): number {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return fail(p, `expected integer ${min}-${max}, got ${describe(v)}`);
    }
    return v;
  }

  str(v: unknown, p: string, def: string, check?: (s: string) => string | undefined): string {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string') return fail(p, `expected string, got ${describe(v)}`);
    const problem = check?.(v);
    if (problem) fail(p, `${problem}, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, p: string, def: T, values: readonly T[]): T {
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' || !values.includes(v as T)) {
      return fail(p, `expected one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${describe(v)}`);
    }
    return v as T;
  }

  strList(v: unknown, p: string, def: string[], check?: (s: string) => string | undefined): string[] {
    if (v === undefined || v === null) return [...def];
    if (!Array.isArray(v)) return fail(p, `expected a list of strings, got ${describe(v)}`);
    return v.map((x, i) => this.str(x, join(p, i), '', check) || fail(join(p, i), 'expected a non-empty string'));
  }

  numList(v: unknown, p: string): number[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length === 0) return fail(p, `expected a non-empty list of numbers, got ${describe(v)}`);
    const out = v.map((x, i) => (typeof x === 'number' && Number.isFinite(x) ? x : fail(join(p, i), `expected number, got ${describe(x)}`)));
    out.forEach((x, i) => {
      if (i > 0 && x <= out[i - 1]!) fail(join(p, i), `expected numbers in increasing order, got ${x} after ${out[i - 1]}`);
    });
    return out;
  }

  ip(v: unknown, p: string, def: string): string {
    return this.str(v, p, def, (s) => {
      const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
      return net.isIP(bare) || bare === 'localhost' ? undefined : 'expected an IP address';
    }).replace(/^\[(.*)\]$/, '$1');
  }

  port(v: unknown, p: string, def: number): number {
    return this.int(v, p, def, 0, 65535);
  }

  /** {ip, port}; partial mappings take the rest from `def` */
  addr(v: unknown, p: string, def: ListenAddr): ListenAddr {
    const o = this.section(v, p, ['ip', 'port'], true);
    return { ip: this.ip(o.ip, join(p, 'ip'), def.ip), port: this.port(o.port, join(p, 'port'), def.port) };
  }
}

function cidr(s: string): string | undefined {
  const [ip, bits, extra] = s.split('/');
  const family = net.isIP(ip!);
  if (!family || extra !== undefined) return 'expected an IP address or CIDR';
  if (bits === undefined) return undefined;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128) ? undefined : 'expected an IP address or CIDR';
}

function nodeListen(r: Reader, v: unknown, p: string): ListenAddr[] {
  if (v === undefined || v === null) return [{ ...D.DEFAULT_NODE_LISTEN }];
  const one = (x: unknown, q: string): ListenAddr => {
    if (typeof x === 'number') return { ip: D.DEFAULT_NODE_LISTEN.ip, port: r.port(x, q, 0) };
    if (isObj(x)) {
      if (x.port === undefined || x.port === null) fail(join(q, 'port'), 'required');
      return r.addr(x, q, D.DEFAULT_NODE_LISTEN);
    }
    return fail(q, `expected a port number or {ip, port}, got ${describe(x)}`);
  };
  if (!Array.isArray(v)) return [one(v, p)];
  if (v.length === 0) fail(p, 'expected at least one listen address');
  return v.map((x, i) => one(x, join(p, i)));
}

function adminKeys(r: Reader, v: unknown, p: string): AdminKey[] {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) {
    return [{ name: D.DEFAULT_ADMIN_KEY_NAME, key: '', role: 'admin' }];
  }
  if (!Array.isArray(v)) return fail(p, `expected a list of {name, key, role}, got ${describe(v)}`);
  const seen = new Set<string>();
  return v.map((x, i) => {
    const q = join(p, i);
    const o = r.section(x, q, ['name', 'key', 'role'], true);
    if (!isObj(x)) fail(q, `expected {name, key, role}, got ${describe(x)}`);
    const name = r.str(o.name, join(q, 'name'), '');
    if (!name) fail(join(q, 'name'), 'required (a non-empty string)');
    if (seen.has(name)) fail(join(q, 'name'), `duplicate name ${JSON.stringify(name)}`);
    seen.add(name);
    // a number-looking key (YAML int) is accepted as its text
    const key = typeof o.key === 'number' ? String(o.key) : r.str(o.key, join(q, 'key'), '');
    const role = r.oneOf(o.role, join(q, 'role'), 'admin', ['admin', 'viewer'] as const);
    return { name, key, role };
  });
}

const resolvePath = (cwd: string, s: string) => path.resolve(cwd, s);
const absPathOrStdout = (cwd: string, s: string) => (s === 'stdout' ? s : resolvePath(cwd, s));
const nonEmpty = (s: string) => (s.length ? undefined : 'expected a non-empty string');
const uriPath = (s: string) => (s.startsWith('/') ? undefined : 'expected a path starting with "/"');

export function normalizeConfig(raw: unknown, opts: NormalizeOptions): { config: GatewayConfig; warnings: string[] } {
  const r = new Reader();
  const cwd = opts.cwd ?? process.cwd();
  const top = r.section(raw, '', D.APISIX_SECTIONS, false);
  // sections switchyard reads nothing from: every key under them is ignored
  for (const s of ['graphql', 'plugins', 'stream_plugins']) {
    if (top[s] !== undefined && top[s] !== null) r.warnings.push(`ignored APISIX setting: ${s}`);
  }

  const a = r.section(top.apisix, 'apisix', ['node_listen', 'enable_admin', 'enable_control', 'control', 'disable_upstream_healthcheck', 'data_encryption', 'max_post_args_readable_size'], true);
  const apisix: GatewayConfig['apisix'] = {
    node_listen: nodeListen(r, a.node_listen, 'apisix.node_listen'),
    enable_admin: r.bool(a.enable_admin, 'apisix.enable_admin', true),
    enable_control: r.bool(a.enable_control, 'apisix.enable_control', true),
    control: r.addr(a.control, 'apisix.control', D.DEFAULT_CONTROL),
    disable_upstream_healthcheck: r.bool(a.disable_upstream_healthcheck, 'apisix.disable_upstream_healthcheck', false),
    data_encryption: dataEncryption(r, a.data_encryption),
  };
  // R-RTE-20: MiB of JSON body read for `post_arg.*` route vars (APISIX's key; 0 = no cap; absent = APISIX's 64)
  if (a.max_post_args_readable_size !== undefined && a.max_post_args_readable_size !== null) {
    apisix.max_post_args_readable_size = r.int(a.max_post_args_readable_size, 'apisix.max_post_args_readable_size', 64, 0, 1048576);
  }

  const d = r.section(top.deployment, 'deployment', ['role', 'role_traditional', 'role_data_plane', 'local', 'admin', 'etcd'], true);
  const rt = r.section(d.role_traditional, 'deployment.role_traditional', ['config_provider'], true);
  const rdp = r.section(d.role_data_plane, 'deployment.role_data_plane', ['config_provider'], true);
  const role = r.oneOf(d.role, 'deployment.role', 'traditional', ['traditional', 'data_plane'] as const);
  const local = r.section(d.local, 'deployment.local', ['data_dir', 'compact_every'], true);
  const adm = r.section(d.admin, 'deployment.admin', ['admin_listen', 'admin_key', 'admin_key_required', 'allow_admin'], true);
  const e = r.section(d.etcd, 'deployment.etcd', ['host', 'prefix', 'timeout', 'user', 'password'], true);
  const etcdHost = typeof e.host === 'string' ? [e.host] : e.host;
  const deployment: GatewayConfig['deployment'] = {
    role,
    // R-SA-1: APISIX's standalone mode is a data plane reading conf/apisix.yaml
    config_provider: role === 'data_plane'
      ? r.oneOf(rdp.config_provider, 'deployment.role_data_plane.config_provider', 'yaml', ['yaml'] as const)
      : r.oneOf(rt.config_provider, 'deployment.role_traditional.config_provider', 'local', ['local', 'etcd'] as const),
    data_dir: resolvePath(cwd, r.str(local.data_dir, 'deployment.local.data_dir', D.DEFAULT_DATA_DIR, nonEmpty)),
    compact_every: r.int(local.compact_every, 'deployment.local.compact_every', D.DEFAULT_COMPACT_EVERY, 1, 1_000_000),
    admin: {
      admin_listen: r.addr(adm.admin_listen, 'deployment.admin.admin_listen', D.DEFAULT_ADMIN_LISTEN),
      admin_key: adminKeys(r, adm.admin_key, 'deployment.admin.admin_key'),
      admin_key_required: r.bool(adm.admin_key_required, 'deployment.admin.admin_key_required', true),
      allow_admin: r.strList(adm.allow_admin, 'deployment.admin.allow_admin', D.DEFAULT_ALLOW_ADMIN, cidr),
    },
    etcd: {
      host: r.strList(etcdHost, 'deployment.etcd.host', D.DEFAULT_ETCD_HOST, (s) =>
        /^https?:\/\/[^/\s]+\/?$/.test(s) ? undefined : 'expected an http(s)://host:port address'),
      prefix: r.str(e.prefix, 'deployment.etcd.prefix', D.DEFAULT_ETCD_PREFIX, uriPath).replace(/(.)\/+$/, '$1'),
      timeout: r.int(e.timeout, 'deployment.etcd.timeout', D.DEFAULT_ETCD_TIMEOUT, 1, 3600),
    },
  };
  if (deployment.etcd.host.length === 0) fail('deployment.etcd.host', 'expected at least one address');
  if (deployment.config_provider === 'yaml') {
    // as APISIX: the file is conf/apisix.yaml beside conf/config.yaml, and a data plane has no Admin API
    deployment.standalone_file = path.join(path.dirname(opts.file), 'apisix.yaml');
    apisix.enable_admin = false;
  }
  if (e.user !== undefined && e.user !== null) deployment.etcd.user = r.str(e.user, 'deployment.etcd.user', '');
  if (e.password !== undefined && e.password !== null) deployment.etcd.password = typeof e.password === 'number' ? String(e.password) : r.str(e.password, 'deployment.etcd.password', '');

  const de = apisix.data_encryption!;
  if (deployment.config_provider === 'etcd' && de.enable_encrypt_fields && de.keyring.length === 0) {
    // a key generated per node would leave each node unable to read what the others wrote
    fail('apisix.data_encryption.keyring', 'required with config_provider etcd: give every node (and any APISIX) sharing the etcd prefix the same keys, ' +
      'or set apisix.data_encryption.enable_encrypt_fields: false');
  }

  const n = r.section(top.nginx_config, 'nginx_config', ['worker_processes', 'http'], true);
  const worker_processes = workerProcesses(n.worker_processes);
  const h = r.section(n.http, 'nginx_config.http', ['enable_access_log', 'access_log', 'access_log_format', 'access_log_format_escape'], true);
  const http: GatewayConfig['nginx_config']['http'] = {
    enable_access_log: r.bool(h.enable_access_log, 'nginx_config.http.enable_access_log', true),
    access_log: absPathOrStdout(cwd, r.str(h.access_log, 'nginx_config.http.access_log', D.DEFAULT_ACCESS_LOG, nonEmpty)),
    access_log_format: r.str(h.access_log_format, 'nginx_config.http.access_log_format', D.DEFAULT_ACCESS_LOG_FORMAT, nonEmpty),
    access_log_format_escape: r.oneOf(h.access_log_format_escape, 'nginx_config.http.access_log_format_escape', 'default', ['default', 'json'] as const),
  };
  for (const name of unknownLogVariables(http.access_log_format)) {
    r.warnings.push(`nginx_config.http.access_log_format: unknown variable $${name} (logged as "-")`);
  }

  const pa = r.section(top.plugin_attr, 'plugin_attr', ['prometheus'], true);
  const pr = r.section(pa.prometheus, 'plugin_attr.prometheus',
    ['export_uri', 'export_addr', 'metric_prefix', 'default_buckets', 'llm_latency_buckets', 'enable_export_server'], true);
  const prometheus: GatewayConfig['plugin_attr']['prometheus'] = {
    export_uri: r.str(pr.export_uri, 'plugin_attr.prometheus.export_uri', D.DEFAULT_EXPORT_URI, uriPath),
    export_addr: r.addr(pr.export_addr, 'plugin_attr.prometheus.export_addr', D.DEFAULT_PROMETHEUS_ADDR),
    metric_prefix: r.str(pr.metric_prefix, 'plugin_attr.prometheus.metric_prefix', D.DEFAULT_METRIC_PREFIX, (s) =>
      /^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(s) ? undefined : 'expected a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)'),
    enable_export_server: r.bool(pr.enable_export_server, 'plugin_attr.prometheus.enable_export_server', true),
  };
  const db = r.numList(pr.default_buckets, 'plugin_attr.prometheus.default_buckets');
  if (db) prometheus.default_buckets = db;
  const lb = r.numList(pr.llm_latency_buckets, 'plugin_attr.prometheus.llm_latency_buckets');
  if (lb) prometheus.llm_latency_buckets = lb;

  const config: GatewayConfig = {
    file: opts.file,
    apisix,
    deployment,
    nginx_config: { worker_processes, http },
    plugin_attr: { prometheus },
  };
  return { config, warnings: r.warnings };
}

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'a list' : v === null ? 'nothing' : typeof v === 'object' ? 'a mapping' : `a ${typeof v}`);

/**
 * R-SEC-10, as APISIX's CLI schema: `keyring` is one key or a non-empty list;
 * every key is used as its own IV, so only AES's key sizes are accepted.
 */
function dataEncryption(r: Reader, v: unknown): NonNullable<GatewayConfig['apisix']['data_encryption']> {
  const p = 'apisix.data_encryption';
  const o = r.section(v, p, ['enable_encrypt_fields', 'keyring'], true);
  const enable_encrypt_fields = r.bool(o.enable_encrypt_fields, `${p}.enable_encrypt_fields`, true);
  const kp = `${p}.keyring`;
  if (Array.isArray(o.keyring) && o.keyring.length === 0) fail(kp, 'expected at least one key (or leave keyring out to have one generated)');
  const given = typeof o.keyring === 'string' ? [o.keyring] : o.keyring;
  if (given !== undefined && given !== null && !Array.isArray(given)) fail(kp, `expected a key or a list of keys, got ${kindOf(given)}`);
  // the message never shows the key itself: it is a secret
  const keyring = ((given ?? []) as unknown[]).map((k, i) => {
    const q = typeof o.keyring === 'string' ? kp : join(kp, i);
    if (typeof k !== 'string') return fail(q, `expected a string key (quote it in YAML), got ${kindOf(k)}`);
    const n = Buffer.byteLength(k);
    return n === 16 || n === 32 ? k : fail(q, `expected a key of 16 bytes (AES-128-CBC) or 32 bytes (AES-256-CBC), got ${n} bytes`);
  });
  return { enable_encrypt_fields, keyring };
}

/** R-WRK-1: `auto` (default) = os.availableParallelism(); else an integer >= 1 */
function workerProcesses(v: unknown): number {
  if (v === undefined || v === null || v === 'auto') return Math.max(1, os.availableParallelism());
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 1024) return n;
  return fail('nginx_config.worker_processes', `expected "auto" or an integer from 1 to 1024, got ${JSON.stringify(v)}`);
}
