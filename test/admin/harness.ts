// Test harness: the Admin API handler on a real node:http server, backed by
// the real local store in a temp directory.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createAdminHandler } from '../../src/admin/server.js';
import { LocalStore } from '../../src/store/local.js';
import type { ConfigStore } from '../../src/store/types.js';
import type { GatewayConfig, AdminKey } from '../../src/config/types.js';

export const KEY = 'admin-key-0123456789abcdef';
export const VIEWER_KEY = 'viewer-key-0123456789abcdef';

export interface Harness {
  url: string;
  store: ConfigStore;
  dir: string;
  server: http.Server;
  /** request with the admin key (unless headers override); body: object → JSON, string → raw */
  call(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  close(): Promise<void>;
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

export interface HarnessOptions {
  keys?: AdminKey[];
  allow_admin?: string[];
  admin_key_required?: boolean;
  store?: ConfigStore;
}

export function testConfig(opts: HarnessOptions, dir: string): GatewayConfig {
  return {
    file: path.join(dir, 'config.yaml'),
    apisix: {
      node_listen: [{ ip: '127.0.0.1', port: 0 }],
      enable_admin: true,
      enable_control: false,
      control: { ip: '127.0.0.1', port: 0 },
      disable_upstream_healthcheck: false,
    },
    deployment: {
      role: 'traditional',
      config_provider: 'local',
      data_dir: dir,
      admin: {
        admin_listen: { ip: '127.0.0.1', port: 0 },
        admin_key: opts.keys ?? [
          { name: 'admin', key: KEY, role: 'admin' },
          { name: 'viewer', key: VIEWER_KEY, role: 'viewer' },
        ],
        admin_key_required: opts.admin_key_required ?? true,
        allow_admin: opts.allow_admin ?? ['127.0.0.0/24'],
      },
      etcd: { host: [], prefix: '/apisix', timeout: 30 },
    },
    nginx_config: {
      http: { enable_access_log: false, access_log: 'stdout', access_log_format: '', access_log_format_escape: 'default' },
    },
    plugin_attr: {
      prometheus: {
        export_uri: '/apisix/prometheus/metrics',
        export_addr: { ip: '127.0.0.1', port: 0 },
        metric_prefix: 'apisix_',
        enable_export_server: false,
      },
    },
  } as GatewayConfig;
}

export async function startAdmin(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-admin-'));
  const store = opts.store ?? new LocalStore(path.join(dir, 'data'));
  await store.open();
  const handler = createAdminHandler({ config: testConfig(opts, dir), store });
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    store,
    dir,
    server,
    async call(method, p, body, headers) {
      const res = await fetch(url + p, {
        method,
        headers: { 'X-API-KEY': KEY, ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** a snapshot of the store's content, for "unchanged" assertions */
export function dump(store: ConfigStore): string {
  return JSON.stringify([...store.snapshot().values()].map((i) => [i.key, i.value, i.createdIndex, i.modifiedIndex]));
}
