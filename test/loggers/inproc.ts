// Runs the real gateway (src/app.ts) inside the test process, for tests that
// must observe a client library at its boundary (the kafkajs producer).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startGateway as startApp, type Gateway } from '../../src/app.js';
import { ADMIN_KEY, defaultTestConfig } from '../helpers/gateway.js';
import { setLogLevel } from '../../src/core/log.js';

export interface InProcGateway {
  gw: Gateway;
  dir: string;
  proxyUrl: string;
  adminUrl: string;
  metricsUrl?: string;
  admin(method: string, p: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  stop(): Promise<void>;
}

export async function startInProcess(extra: Record<string, unknown> = {}): Promise<InProcGateway> {
  if (!process.env.SWITCHYARD_LOG_LEVEL) setLogLevel('error');
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-inproc-'));
  const conf: any = defaultTestConfig();
  conf.nginx_config.http.access_log = path.join(dir, 'logs/access.log');
  conf.deployment.local.data_dir = path.join(dir, 'data');
  Object.assign(conf, extra);
  const { config } = parseConfig(YAML.stringify(conf), path.join(dir, 'config.yaml'), { cwd: dir });
  const gw = await startApp(config);
  const a = (name: string) => {
    const x = gw.addresses[name]?.[0];
    return x ? `http://${x.ip}:${x.port}` : undefined;
  };
  const adminUrl = a('admin')!;
  return {
    gw,
    dir,
    proxyUrl: a('proxy')!,
    adminUrl,
    metricsUrl: a('prometheus'),
    async admin(method, p, body) {
      const res = await fetch(adminUrl + p, {
        method,
        headers: { 'X-API-KEY': ADMIN_KEY, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try { parsed = JSON.parse(text); } catch { /* text */ }
      return { status: res.status, body: parsed, text };
    },
    async stop() {
      await gw.stop(5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
