// Helpers for the declarative end-to-end tests: run the real CLI, give it a
// config that names the gateway's bound Admin port, point seed files at the
// mock LLM.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { CLI, type GatewayProcess } from '../helpers/gateway.js';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/declarative/fixtures');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** run `node dist/src/cli/main.js <args>` (async: the mock LLM lives in this process) */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The gateway's config file with the Admin port it actually bound (the test
 * config listens on port 0), written next to it: what `sync -c` reads.
 */
export function cliConfig(gw: GatewayProcess): string {
  const cfg = YAML.parse(readFileSync(gw.configFile, 'utf8'));
  cfg.deployment.admin.admin_listen.port = Number(new URL(gw.adminUrl).port);
  const file = path.join(gw.dir, 'cli-config.yaml');
  writeFileSync(file, YAML.stringify(cfg));
  return file;
}

export function readFixture(name: string): any {
  return YAML.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));
}

/** every ai-proxy-multi instance of an ADC document sends to `mockUrl` (spec §11) */
export function pointAtMock(doc: any, mockUrl: string, pathFor?: (inst: any) => string): any {
  for (const s of doc.services ?? []) {
    for (const r of s.routes ?? []) {
      const p = r.plugins?.['ai-proxy-multi'];
      for (const inst of p?.instances ?? []) {
        inst.override = { ...(inst.override ?? {}), endpoint: mockUrl + (pathFor ? pathFor(inst) : '') };
      }
    }
  }
  return doc;
}

export function writeYaml(dir: string, name: string, doc: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : YAML.stringify(doc));
  return file;
}

export const CHAT = { messages: [{ role: 'system', content: 'You are a mathematician' }, { role: 'user', content: 'What is 1+1?' }] };

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * The same command run in this process (syncMain/dumpMain with captured
 * output): what the CLI does minus the process start, which costs seconds on
 * a loaded machine. The tests use the real CLI for a few runs and this for
 * the rest.
 */
export async function runInProcess(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { syncMain } = await import('../../src/cli/sync.js');
  const { dumpMain } = await import('../../src/cli/dump.js');
  let stdout = '';
  let stderr = '';
  const io = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
  const [cmd, ...rest] = args;
  const code = cmd === 'sync' ? await syncMain(rest, io, { ...process.env, ...env }) : await dumpMain(rest, io);
  return { code, stdout, stderr };
}
