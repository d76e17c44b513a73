// A small Admin API client for sync/dump: reads the running resources
// (GET lists) and writes items (PUT/DELETE), with the admin key.
import type { JsonObject } from '../core/types.js';
import { adminPath, isObject, stripServerFields, type Resource, type ResourceKind } from './model.js';

export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export interface AdminResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

const LISTS: Array<[ResourceKind, string]> = [
  ['upstream', 'upstreams'],
  ['service', 'services'],
  ['route', 'routes'],
  ['consumer', 'consumers'],
  ['global_rule', 'global_rules'],
];

export class AdminClient {
  constructor(
    readonly baseUrl: string,
    readonly key: string | undefined,
    readonly timeoutMs = 10_000,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<AdminResponse> {
    const headers: Record<string, string> = {};
    if (this.key) headers['X-API-KEY'] = this.key;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminError(0, `cannot reach the Admin API at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  private fail(method: string, path: string, res: AdminResponse): never {
    let msg = isObject(res.body) && typeof res.body.error_msg === 'string' ? res.body.error_msg : res.text.trim();
    if (isObject(res.body) && typeof res.body.description === 'string') msg += ` (${res.body.description})`;
    if (res.status === 401) {
      msg += this.key
        ? '; check the admin key (deployment.admin.admin_key, or admin_keys.json under deployment.local.data_dir: run from the gateway\'s directory)'
        : '; no admin key found in the configuration';
    }
    throw new AdminError(res.status, `${method} ${path} answered ${res.status}: ${msg}`);
  }

  /** GET a collection; a collection the server does not know answers an empty list */
  async list(path: string): Promise<Array<{ key: string; value: JsonObject }>> {
    const res = await this.request('GET', path);
    if (res.status === 404 && path.endsWith('/upstreams')) return [];
    if (res.status !== 200) this.fail('GET', path, res);
    const list = isObject(res.body) && Array.isArray(res.body.list) ? res.body.list : [];
    return list.filter((it: unknown) => isObject(it) && isObject(it.value) && typeof it.key === 'string');
  }

  /** every Route, Service, Upstream, Consumer, Credential and Global Rule of the running gateway */
  async readAll(): Promise<Resource[]> {
    const out: Resource[] = [];
    for (const [kind, coll] of LISTS) {
      for (const item of await this.list(`/apisix/admin/${coll}`)) {
        const id = item.key.split('/').pop()!;
        out.push({ kind, id, value: stripServerFields(item.value) });
      }
    }
    for (const c of out.filter((r) => r.kind === 'consumer')) {
      for (const item of await this.list(`/apisix/admin/consumers/${encodeURIComponent(c.id)}/credentials`)) {
        const id = item.key.split('/').pop()!;
        out.push({ kind: 'credential', id, username: c.id, value: stripServerFields(item.value) });
      }
    }
    return out;
  }

  async put(r: Resource): Promise<void> {
    const path = adminPath(r);
    const res = await this.request('PUT', path, stripServerFields(r.value));
    if (res.status !== 200 && res.status !== 201) this.fail('PUT', path, res);
  }

  async delete(r: Resource): Promise<void> {
    const path = adminPath(r);
    const res = await this.request('DELETE', path);
    if (res.status === 404) return; // already gone (a consumer's credentials go with it)
    if (res.status !== 200) this.fail('DELETE', path, res);
  }
}
