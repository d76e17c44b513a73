// The Admin API (R-ADM, R-RES, R-SEC) on plain node:http, following
// APISIX's `apisix/admin/init.lua` and `resource.lua`: access control, body
// handling, one generic resource handler parameterized per resource, the
// plugin endpoints and schema validation.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import type { ConfigStore, StoredItem, PutOptions, ValueCodec } from '../store/types.js';
import { maskSecretFields } from '../store/secret-fields.js';
import { StoreUnavailableError } from '../store/types.js';
import type { JsonObject, Reply } from '../core/types.js';
import { sendReply } from '../core/respond.js';
import { jsonError, pageError, textError } from '../core/errors.js';
import { pluginList, getPlugin, encryptFieldsOf } from '../plugins/registry.js';
import { validateSchema } from '../schema/validate.js';
import { log } from '../core/log.js';
import { withTimeout } from '../core/timeout.js';
import { compileAllowList, checkToken, findKey, requestKey } from './auth.js';
import { collectStats, type DashboardSources } from './dashboard/stats.js';
import { createUiHandler } from './dashboard/static.js';
import { injectMeta } from './plugins.js';
import { cjsonDecodeError } from './cjson.js';
import { resourceSchemas, type ResourceKind } from './schemas.js';
import { validateResource, RESOURCE_KINDS, type Lookup } from './validate.js';

export const MAX_REQ_BODY = 1572864;
/** no Admin API write may take longer than this (CONTRACT: 5 s) */
const WRITE_DEADLINE_MS = 4500;
const MAX_JSON_DEPTH = 1000;

const VERSION_HEADER = { 'X-API-VERSION': 'v3' };

/** R-ADM-40: collections switchyard does not have */
const EMPTY_COLLECTIONS = new Set([
  'ssls', 'plugin_configs', 'plugin_metadata', 'stream_routes', 'consumer_groups', 'protos', 'secrets',
]);

/** the `kind` word APISIX uses in messages */
const KIND_WORD: Record<ResourceKind, string> = {
  routes: 'route',
  services: 'service',
  upstreams: 'upstream',
  consumers: 'consumer',
  credentials: 'credential',
  global_rules: 'global rule',
};

/** R-ADM-13 */
const UNSUPPORTED_METHODS: Partial<Record<ResourceKind, string[]>> = {
  consumers: ['POST', 'PATCH'],
  credentials: ['POST', 'PATCH'],
  global_rules: ['POST'],
};

class HttpError extends Error {
  constructor(readonly reply: Reply) {
    super('http error');
  }
}

const json = (status: number, body: unknown): Reply => ({ status, kind: 'json', body });
const notFound = (): Reply => json(404, { error_msg: 'Key not found', message: 'Key not found' });

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------
// request body

type Body = { present: false } | { present: true; raw: string; value: unknown };

function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (n: number) =>
      new HttpError(json(400, {
        error_msg: `invalid request body: request size ${n} is greater than the maximum size ${MAX_REQ_BODY} allowed`,
      }));
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_REQ_BODY) {
      req.resume(); // discard the rest; the connection stays usable
      reject(tooLarge(declared));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > MAX_REQ_BODY) {
        done = true;
        chunks.length = 0;
        reject(tooLarge(size));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

/** nesting depth of a parsed JSON value, iteratively */
function jsonDepth(v: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > max) max = d;
    if (max > MAX_JSON_DEPTH) return max;
    for (const c of Array.isArray(x) ? x : Object.values(x)) {
      if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
    }
  }
  return max;
}

/** R-ADM-10: read and decode the JSON body */
async function readBody(req: IncomingMessage): Promise<Body> {
  const buf = await readRaw(req);
  if (buf.length === 0) return { present: false };
  const raw = buf.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new HttpError(json(400, { error_msg: `invalid request body: ${cjsonDecodeError(buf)}`, req_body: raw }));
  }
  if (jsonDepth(value) > MAX_JSON_DEPTH) {
    throw new HttpError(json(400, {
      error_msg: `invalid request body: ${cjsonDecodeError(buf)}`,
      req_body: raw,
    }));
  }
  return { present: true, raw, value };
}

/** R-ADM-12: `ttl`, when present, must be a number */
function ttlError(query: URLSearchParams): Reply | undefined {
  const ttlArg = query.get('ttl');
  if (ttlArg === null) return undefined;
  const n = ttlArg.trim() === '' ? NaN : Number(ttlArg);
  if (!Number.isFinite(n)) return json(400, { error_msg: 'invalid argument ttl: should be a number' });
  return undefined;
}

// ---------------------------------------------------------------------------
// helpers on the store

/** the error of a store call that did not finish within WRITE_DEADLINE_MS */
function deadlineError(what: string): () => Error {
  return () => new StoreUnavailableError(`${what} timed out after ${WRITE_DEADLINE_MS} ms`);
}

/** the answer to a successful write; R-ADM-70 warnings ride beside the item and go to the error log */
function written(status: number, stored: StoredItem, warnings: string[] | undefined): Reply {
  if (!warnings) return json(status, { key: stored.key, value: stored.value });
  for (const w of warnings) log.warn(`${stored.key}: ${w}`);
  return json(status, { key: stored.key, value: stored.value, warnings });
}

function itemOut(it: StoredItem) {
  return { key: it.key, value: it.value, createdIndex: it.createdIndex, modifiedIndex: it.modifiedIndex };
}

/** R-ADM-14: `the property is forbidden:  create_time` */
function forbiddenProperty(conf: Record<string, any>): string | undefined {
  const present = (o: unknown, k: string) => isObject(o) && o[k] !== undefined && o[k] !== false;
  for (const k of ['create_time', 'update_time']) if (present(conf, k)) return `the property is forbidden:  ${k}`;
  for (const k of ['create_time', 'update_time']) if (present(conf.upstream, k)) return `the property is forbidden:  upstream.${k}`;
  for (const k of ['create_time', 'update_time']) if (present(conf.plugins, k)) return `the property is forbidden:  plugins.${k}`;
  return undefined;
}

/** assignment that treats every key (including `__proto__`) as plain data */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** R-ADM-30: objects merge recursively, arrays and scalars replace, null deletes */
export function deepMerge(origin: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isObject(origin) ? { ...origin } : {};
  for (const [k, v] of Object.entries(patch)) {
    const own = Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined;
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(own)) setOwn(out, k, deepMerge(own, v));
    else setOwn(out, k, v);
  }
  return out;
}

/** R-ADM-31: replace the value at a slash-separated path */
function patchPath(node: Record<string, any>, subPath: string, value: unknown): Record<string, any> | string {
  const parts = subPath.split('/');
  const root = structuredClone(node);
  let cur: any = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const name = parts[i]!;
    const own = Object.prototype.hasOwnProperty.call(cur, name) ? cur[name] : undefined;
    if (own === undefined || own === null) setOwn(cur, name, {});
    cur = Object.prototype.hasOwnProperty.call(cur, name) ? cur[name] : undefined;
    if (cur === null || typeof cur !== 'object') return `invalid sub-path: /${parts.slice(0, i + 1).join('/')}`;
  }
  const last = parts[parts.length - 1]!;
  if (last === '') return isObject(value) ? value : `invalid configuration`;
  setOwn(cur, last, value);
  return root;
}

// ---------------------------------------------------------------------------
// collection filters and pagination (R-ADM-23..25)

function safeRegex(src: string): RegExp | undefined {
  try {
    return new RegExp(src);
  } catch {
    return undefined;
  }
}

export function filterList(kind: ResourceKind, items: StoredItem[], query: URLSearchParams): StoredItem[] {
  const name = query.get('name');
  const label = query.get('label');
  const uri = query.get('uri');
  const filter = query.get('filter');
  const nameRe = name !== null ? safeRegex(name) : undefined;
  const uriRe = uri !== null ? safeRegex(uri) : undefined;
  let filters: Array<[string, string]> = [];
  if (filter !== null && kind === 'routes') {
    const f = new URLSearchParams(filter);
    const last = new Map<string, string>();
    for (const [k, v] of f) if (k === 'service_id' || k === 'upstream_id') last.set(k, v);
    filters = [...last];
  }
  return items.filter((it) => {
    const v = it.value as Record<string, any>;
    if (name !== null) {
      if (typeof v.name !== 'string' || !nameRe || !nameRe.test(v.name)) return false;
    }
    if (label !== null) {
      if (!isObject(v.labels) || !Object.prototype.hasOwnProperty.call(v.labels, label)) return false;
    }
    if (uri !== null) {
      if (!uriRe) return false;
      let ok = typeof v.uri === 'string' && uriRe.test(v.uri);
      if (!ok && Array.isArray(v.uris)) ok = v.uris.some((u: unknown) => typeof u === 'string' && uriRe.test(u));
      if (!ok) return false;
    }
    for (const [k, want] of filters) {
      if (v[k] === undefined || v[k] === null || String(v[k]) !== want) return false;
    }
    return true;
  });
}

/** returns the page, or the plain-text error of R-ADM-25 */
export function paginate<T extends { createdIndex: number }>(list: T[], query: URLSearchParams): T[] | string {
  const num = (s: string | null) => (s === null || s.trim() === '' ? NaN : Number(s));
  let page = num(query.get('page'));
  const size = num(query.get('page_size'));
  if (!Number.isFinite(page) || !Number.isFinite(size)) return list;
  if (size < 10 || size > 500) return 'page_size must be between 10 and 500';
  if (page < 1) page = 1;
  const sorted = [...list].sort((a, b) => a.createdIndex - b.createdIndex);
  const to = Math.floor(page) * Math.floor(size);
  return sorted.slice(to - Math.floor(size), to);
}

// ---------------------------------------------------------------------------
// the handler

interface Deps {
  config: GatewayConfig;
  store: ConfigStore;
  /** R-SEC-10: the store's codec; write answers show the value as stored (encrypted), as APISIX */
  secrets?: ValueCodec;
}

interface Ctx {
  req: IncomingMessage;
  method: string;
  query: URLSearchParams;
  segs: string[];
}

/** every failure of a store call counts as "store unavailable" (503), whatever its class */
function guardStore(inner: ConfigStore): Pick<ConfigStore, 'get' | 'list' | 'put' | 'delete' | 'nextId' | 'snapshot'> {
  const wrap = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await fn(...a);
    } catch (e) {
      if (e instanceof StoreUnavailableError) throw e;
      throw new StoreUnavailableError((e as Error)?.message ?? String(e));
    }
  };
  return {
    get: wrap((k: string) => inner.get(k)),
    list: wrap((p: string) => inner.list(p)),
    put: wrap((k: string, v: JsonObject, o?: PutOptions) => inner.put(k, v, o)),
    delete: wrap((keys: string[]) => inner.delete(keys)),
    nextId: wrap(() => inner.nextId()),
    snapshot: () => inner.snapshot(),
  };
}

export function createAdminHandler(deps: Deps & { dashboard?: DashboardSources }) {
  const { config } = deps;
  const ui = createUiHandler();
  const store = guardStore(deps.store);
  const admin = config.deployment.admin;
  const allowed = compileAllowList(admin.allow_admin);
  // writes are applied one at a time so that read-check-write sequences
  // (timestamps, reference and duplicate checks) see a stable store
  let writeChain: Promise<unknown> = Promise.resolve();
  const serialize = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = writeChain.then(fn, fn);
    writeChain = p.catch(() => undefined);
    return p;
  };

  const lookup: Lookup = (key) => store.snapshot().get(key)?.value;
  /** the role of the request's admin key (checkToken already accepted it) */
  const roleOf = (ctx: Ctx): 'admin' | 'viewer' => {
    const keys = admin.admin_key;
    if (admin.admin_key_required === false || !keys?.length) return 'admin';
    const given = requestKey(ctx.req, ctx.query);
    return (given !== undefined ? findKey(keys, given)?.role : undefined) ?? 'admin';
  };
  /** R-SEC-10: a write answers with the value as stored (secret fields encrypted), as APISIX */
  const writtenAsStored = (status: number, it: StoredItem, warnings: string[] | undefined): Reply =>
    written(status, deps.secrets ? { ...it, value: deps.secrets.encode(it.key, it.value) } : it, warnings);
  /**
   * A lookup that also knows the referenced items read from the store itself
   * (the snapshot of a clustered store may lag behind another node's write).
   */
  const lookupFor = async (conf: unknown): Promise<Lookup> => {
    if (!isObject(conf)) return lookup;
    const keys: string[] = [];
    if (conf.upstream_id !== undefined && conf.upstream_id !== null) keys.push(`/apisix/upstreams/${String(conf.upstream_id)}`);
    if (conf.service_id !== undefined && conf.service_id !== null) keys.push(`/apisix/services/${String(conf.service_id)}`);
    const found = new Map<string, JsonObject>();
    for (const k of keys) {
      if (lookup(k)) continue;
      const it = await store.get(k);
      if (it) found.set(k, it.value);
    }
    return found.size ? (key) => found.get(key) ?? lookup(key) : lookup;
  };
  const listSnapshot = (prefix: string) => {
    const out: Array<{ key: string; value: JsonObject }> = [];
    for (const [k, it] of store.snapshot()) if (k.startsWith(prefix)) out.push({ key: k, value: it.value });
    return out;
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowed(req.socket.remoteAddress)) {
      sendReply(res, pageError(403), VERSION_HEADER);
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    let url: URL;
    try {
      url = new URL('http://admin.invalid' + (rawUrl.startsWith('/') ? rawUrl : '/' + rawUrl));
    } catch {
      sendReply(res, pageError(400), VERSION_HEADER);
      return;
    }
    const path = url.pathname;
    const query = url.searchParams;

    if (method === 'HEAD' && (path === '/apisix/admin' || path === '/apisix/admin/')) {
      res.writeHead(200, { ...VERSION_HEADER, 'Content-Length': '0' });
      res.end();
      return;
    }
    // R-UI-1: the dashboard's page and bundle (its data needs the admin key)
    if (path === '/ui' || path.startsWith('/ui/')) {
      ui(req, res, path, VERSION_HEADER);
      return;
    }
    if (!path.startsWith('/apisix/admin/') || !['GET', 'PUT', 'POST', 'DELETE', 'PATCH'].includes(method)) {
      sendReply(res, pageError(404), VERSION_HEADER);
      return;
    }
    const desc = checkToken(req, query, admin.admin_key, admin.admin_key_required);
    if (desc) {
      sendReply(res, json(401, { error_msg: 'failed to check token', description: desc }), VERSION_HEADER);
      return;
    }
    let segs: string[];
    try {
      segs = path.slice('/apisix/admin/'.length).split('/').map((s) => decodeURIComponent(s));
    } catch {
      segs = path.slice('/apisix/admin/'.length).split('/');
    }
    const ctx: Ctx = { req, method, query, segs };
    const reply = await route(ctx);
    if (reply === 'empty200') {
      res.writeHead(200, { ...VERSION_HEADER, 'Content-Length': '0' });
      res.end();
      return;
    }
    sendReply(res, reply, VERSION_HEADER);
  };

  async function route(ctx: Ctx): Promise<Reply | 'empty200'> {
    const { segs, method, query } = ctx;
    const res = segs[0] ?? '';

    if (res === 'plugins' && segs[1] === 'list' && segs.length === 2 && method === 'GET') return pluginsList(query);
    if (res === 'schema' && segs[1] === 'validate' && method === 'POST') return schemaValidate(ctx);
    if (res === 'dashboard') return dashboard(ctx);

    if (res === 'plugins') {
      if (method !== 'GET') return json(404, { error_msg: 'not found' });
      await readBody(ctx.req);
      const bad = ttlError(query);
      if (bad) return bad;
      return pluginSchema(segs[1], query);
    }
    if (EMPTY_COLLECTIONS.has(res)) {
      await readBody(ctx.req);
      const bad = ttlError(query);
      if (bad) return bad;
      if (method === 'GET') {
        if (segs[1]) return notFound();
        return json(200, { total: 0, list: [] });
      }
      return json(400, { error_msg: `${res} is not supported by switchyard` });
    }

    let kind: ResourceKind;
    let id: string | undefined;
    let subPath: string;
    let username: string | undefined;
    if (res === 'consumers' && segs.length >= 3 && segs[2] === 'credentials') {
      kind = 'credentials';
      username = segs[1];
      id = segs[3] || undefined;
      subPath = segs.slice(4).join('/');
    } else if ((RESOURCE_KINDS as readonly string[]).includes(res) && res !== 'credentials') {
      kind = res as ResourceKind;
      id = segs[1] || undefined;
      subPath = segs.slice(2).join('/');
    } else {
      return json(404, { error_msg: `Unsupported resource type: ${res}` });
    }

    const body = await readBody(ctx.req);
    const bad = ttlError(query);
    if (bad) return bad;
    // an id with an encoded "/" would address another item's key
    if (id?.includes('/') || username?.includes('/')) {
      if (method === 'GET' || method === 'DELETE' || method === 'PATCH') return notFound();
    }
    const ttlArg = query.get('ttl');
    const ttl = ttlArg === null ? undefined : Number(ttlArg);

    if (UNSUPPORTED_METHODS[kind]?.includes(method)) {
      return json(405, { error_msg: `not supported \`${method}\` method for ${KIND_WORD[kind]}` });
    }
    switch (method) {
      case 'GET':
        return read(() => getItems(kind, id, username, query, roleOf(ctx)));
      case 'PUT':
        return write(() => put(kind, id, username, body, ttl));
      case 'POST':
        return write(() => post(kind, id, body, ttl));
      case 'PATCH':
        return write(() => patch(kind, id, subPath, body));
      case 'DELETE':
        return write(() => del(kind, id, username, query));
      default:
        return json(404, { error_msg: 'not found' });
    }
  }

  /** run one write under the write lock with the 5-second budget; store failures become 503 */
  async function write(fn: () => Promise<Reply>): Promise<Reply> {
    try {
      return await withTimeout(serialize(fn), WRITE_DEADLINE_MS, deadlineError('configuration store write'));
    } catch (e) {
      if (e instanceof HttpError) return e.reply;
      if (e instanceof StoreUnavailableError) return json(503, { error_msg: e.message });
      throw e;
    }
  }

  /** reads get the same time budget: an unreachable store answers 503, never hangs */
  async function read(fn: () => Promise<Reply>): Promise<Reply> {
    try {
      return await withTimeout(fn(), WRITE_DEADLINE_MS, deadlineError('configuration store read'));
    } catch (e) {
      if (e instanceof StoreUnavailableError) return json(503, { error_msg: e.message });
      throw e;
    }
  }

  function keyOf(kind: ResourceKind, id: string, username?: string): string {
    if (kind === 'credentials') return `/apisix/consumers/${username}/credentials/${id}`;
    return `/apisix/${kind}/${id}`;
  }

  async function getItems(kind: ResourceKind, id: string | undefined, username: string | undefined, query: URLSearchParams, role: 'admin' | 'viewer'): Promise<Reply> {
    // R-SEC-10: the admin role reads secrets decrypted (as APISIX), the viewer role masked
    const out = role === 'viewer'
      ? (it: StoredItem) => ({ ...itemOut(it), value: maskSecretFields(it.key, it.value, encryptFieldsOf) })
      : itemOut;
    if (id !== undefined) {
      const it = await store.get(keyOf(kind, id, username));
      return it ? json(200, out(it)) : notFound();
    }
    let items: StoredItem[];
    if (kind === 'credentials') {
      if (!(await store.get(`/apisix/consumers/${username}`))) return notFound();
      items = await store.list(`/apisix/consumers/${username}/credentials/`);
    } else if (kind === 'consumers') {
      items = (await store.list('/apisix/consumers/')).filter((it) => !it.key.slice('/apisix/consumers/'.length).includes('/'));
    } else {
      items = await store.list(`/apisix/${kind}/`);
    }
    const list = filterList(kind, items, query).map(out);
    const total = list.length;
    const page = paginate(list, query);
    if (typeof page === 'string') return textError(400, page);
    return json(200, { total, list: page });
  }

  async function put(kind: ResourceKind, urlId: string | undefined, username: string | undefined, body: Body, ttl?: number): Promise<Reply> {
    if (!body.present || body.value === null) return json(400, { error_msg: 'missing configurations' });
    const conf = body.value as any;
    let id: string | number | undefined;
    if (kind !== 'consumers') {
      const bodyId = isObject(conf) ? conf.id : undefined;
      id = urlId ?? bodyId;
      if (id === undefined || id === null) return json(400, { error_msg: `missing ${KIND_WORD[kind]} id` });
      if (urlId !== undefined && bodyId !== undefined && String(bodyId) !== String(urlId)) {
        return json(400, { error_msg: `wrong ${KIND_WORD[kind]} id` });
      }
      if (isObject(conf)) conf.id = id;
    } else {
      id = urlId;
    }
    if (isObject(conf)) {
      const forbidden = forbiddenProperty(conf);
      if (forbidden) return json(400, { error_msg: forbidden });
    }
    const checked = validateResource(kind, id, conf, await lookupFor(conf), { list: listSnapshot });
    if (!checked.ok) return json(checked.status, { error_msg: checked.error_msg });
    let key: string;
    if (kind === 'consumers') {
      key = `/apisix/consumers/${conf.username}`;
    } else if (kind === 'credentials') {
      if (!lookup(`/apisix/consumers/${username}`) && !(await store.get(`/apisix/consumers/${username}`))) {
        return json(404, { error_msg: 'consumer not found' });
      }
      const m = /^[^/]+\/credentials\/(.+)$/.exec(String(id));
      key = keyOf(kind, m ? m[1]! : String(id), username);
    } else {
      key = keyOf(kind, String(id));
    }
    const prev = await store.get(key);
    const value: JsonObject = { ...conf };
    const t = now();
    value.create_time = (prev?.value.create_time as number | undefined) ?? t;
    value.update_time = t;
    const stored = await store.put(key, value, ttl !== undefined ? { ttl } : undefined);
    return writtenAsStored(prev ? 200 : 201, stored, checked.warnings);
  }

  async function post(kind: ResourceKind, urlId: string | undefined, body: Body, ttl?: number): Promise<Reply> {
    if (!body.present || body.value === null) return json(400, { error_msg: 'missing configurations' });
    const conf = body.value as any;
    const bodyId = isObject(conf) ? conf.id : undefined;
    if (urlId !== undefined || bodyId !== undefined) {
      return json(400, { error_msg: `wrong ${KIND_WORD[kind]} id, do not need it` });
    }
    if (isObject(conf)) {
      const forbidden = forbiddenProperty(conf);
      if (forbidden) return json(400, { error_msg: forbidden });
    }
    const checked = validateResource(kind, undefined, conf, await lookupFor(conf), { list: listSnapshot });
    if (!checked.ok) return json(checked.status, { error_msg: checked.error_msg });
    const id = await store.nextId();
    const t = now();
    const value: JsonObject = { ...conf, id, create_time: t, update_time: t };
    const stored = await store.put(keyOf(kind, id), value, ttl !== undefined ? { ttl } : undefined);
    return writtenAsStored(201, stored, checked.warnings);
  }

  async function patch(kind: ResourceKind, id: string | undefined, subPath: string, body: Body): Promise<Reply> {
    if (id === undefined) return json(400, { error_msg: `missing ${KIND_WORD[kind]} id` });
    if (!body.present) return json(400, { error_msg: 'missing new configuration' });
    const conf = body.value;
    if (!subPath && !isObject(conf)) return json(400, { error_msg: 'invalid configuration' });
    const key = keyOf(kind, id);
    const old = await store.get(key);
    if (!old) return notFound();
    let node: Record<string, any>;
    if (subPath) {
      const r = patchPath(old.value, subPath, conf);
      if (typeof r === 'string') return json(400, { error_msg: r });
      node = r;
      if (node.create_time === undefined) node.create_time = now();
      node.update_time = now();
    } else {
      node = deepMerge(structuredClone(old.value), conf as Record<string, unknown>);
      if (node.create_time === undefined) node.create_time = now();
      if ((conf as Record<string, unknown>).update_time === undefined || node.update_time === undefined) {
        node.update_time = now();
      }
    }
    if (kind !== 'consumers') {
      if (node.id !== undefined && String(node.id) !== id) return json(400, { error_msg: `wrong ${KIND_WORD[kind]} id` });
      node.id = id;
    }
    const checked = validateResource(kind, id, node, await lookupFor(node), { list: listSnapshot });
    if (!checked.ok) return json(checked.status, { error_msg: checked.error_msg });
    const stored = await store.put(key, node as JsonObject);
    return writtenAsStored(200, stored, checked.warnings);
  }

  async function del(kind: ResourceKind, id: string | undefined, username: string | undefined, query: URLSearchParams): Promise<Reply> {
    if (id === undefined) return json(400, { error_msg: `missing ${KIND_WORD[kind]} id` });
    const key = keyOf(kind, id, username);
    if (query.get('force') !== 'true') {
      const err = deleteChecker(kind, id);
      if (err) return json(400, { error_msg: err });
    }
    const keys = [key];
    if (kind === 'consumers') {
      for (const it of await store.list(`${key}/credentials/`)) keys.push(it.key);
    }
    const existed = await store.delete(keys);
    if (!existed.includes(key)) return notFound();
    return json(200, { deleted: '1', key });
  }

  /** R-RES-5 / R-RES-9: references that forbid a delete */
  function deleteChecker(kind: ResourceKind, id: string): string | undefined {
    if (kind !== 'services' && kind !== 'upstreams') return undefined;
    const field = kind === 'services' ? 'service_id' : 'upstream_id';
    for (const it of listSnapshot('/apisix/routes/')) {
      const v = it.value[field];
      if (v !== undefined && v !== null && String(v) === id) {
        const rid = it.value.id ?? it.key.slice('/apisix/routes/'.length);
        return kind === 'services'
          ? `can not delete this service directly, route [${String(rid)}] is still using it now`
          : `can not delete this upstream, route [${String(rid)}] is still using it now`;
      }
    }
    if (kind === 'upstreams') {
      for (const it of listSnapshot('/apisix/services/')) {
        const v = it.value.upstream_id;
        if (v !== undefined && v !== null && String(v) === id) {
          const sid = it.value.id ?? it.key.slice('/apisix/services/'.length);
          return `can not delete this upstream, service [${String(sid)}] is still using it now`;
        }
      }
    }
    return undefined;
  }

  /** R-UI-1: GET /apisix/admin/dashboard/stats */
  async function dashboard(ctx: Ctx): Promise<Reply> {
    await readBody(ctx.req);
    if (ctx.segs[1] !== 'stats' || ctx.segs.length !== 2) return json(404, { error_msg: `Unsupported resource type: dashboard/${ctx.segs.slice(1).join('/')}` });
    if (ctx.method !== 'GET') return json(405, { error_msg: `not supported \`${ctx.method}\` method for dashboard stats` });
    return json(200, await collectStats(store, deps.dashboard ?? {}, roleOf(ctx)));
  }

  function pluginsList(query: URLSearchParams): Reply {
    const subsystem = query.get('subsystem') ?? 'http';
    if (subsystem === 'http') return json(200, pluginList.map((p) => p.name));
    if (subsystem === 'stream') return json(200, []);
    return textError(400, 'invalid subsystem passed');
  }

  function pluginSchema(name: string | undefined, query: URLSearchParams): Reply {
    const subsystem = query.get('subsystem') ?? 'http';
    if (subsystem !== 'http' && subsystem !== 'stream') {
      return json(400, { error_msg: `unsupported subsystem: ${subsystem}` });
    }
    if (query.get('all') === 'true') {
      if (subsystem === 'stream') return json(200, {});
      const all: Record<string, unknown> = {};
      for (const p of pluginList) {
        const entry: Record<string, unknown> = { schema: injectMeta(p.schema), priority: p.priority, version: p.version ?? 0.1 };
        if (p.consumerSchema) entry.consumer_schema = p.consumerSchema;
        if (p.type) entry.type = p.type;
        all[p.name] = entry;
      }
      return json(200, all);
    }
    const def = subsystem === 'http' && name ? getPlugin(name) : undefined;
    if (!def) return json(404, { error_msg: `plugin not found in subsystem ${subsystem}` });
    if (query.get('schema_type') === 'consumer') {
      if (!def.consumerSchema) return json(400, { error_msg: 'not found schema' });
      return json(200, def.consumerSchema);
    }
    return json(200, injectMeta(def.schema));
  }

  async function schemaValidate(ctx: Ctx): Promise<Reply | 'empty200'> {
    const res = ctx.segs[2] ?? '';
    if (!(RESOURCE_KINDS as readonly string[]).includes(res)) {
      return json(404, { error_msg: `Unsupported resource type: ${res}` });
    }
    const body = await readBody(ctx.req);
    const r = validateSchema(resourceSchemas[res as ResourceKind], body.present ? body.value : undefined);
    if (r.ok) return 'empty200';
    return json(400, { error_msg: r.error });
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    handler(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        sendReply(res, err.reply, VERSION_HEADER);
        if (!req.complete) req.resume();
        return;
      }
      if (err instanceof StoreUnavailableError) {
        sendReply(res, json(503, { error_msg: err.message }), VERSION_HEADER);
        return;
      }
      if (req.destroyed && !req.complete) return; // the client went away mid-request
      log.error(`admin API: ${(err as Error)?.stack ?? String(err)}`);
      sendReply(res, json(500, { error_msg: 'internal error' }), VERSION_HEADER);
    });
  };
}

export type { Deps };
