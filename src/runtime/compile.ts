// Compiles a store snapshot into an immutable Runtime (docs/design.md):
// route table, Services merged into Routes (R-PIPE-5), upstreams resolved,
// consumers indexed by key-auth key (R-KA-2/4), the global rules' plugin list
// (R-PIPE-7), every plugin configuration validated (defaults) and compiled
// once. Nothing here runs per request.
import { createHash } from 'node:crypto';
import type { StoredItem } from '../store/types.js';
import type {
  CompileEnv, CompiledPlugin, ConsumerInfo, JsonObject, PluginDef, Reply, RequestContext,
} from '../core/types.js';
import type { Logger } from '../core/log.js';
import { pageError } from '../core/errors.js';
import { isSecretRef, resolveSecret } from '../core/secrets.js';
import { getPlugin, pluginList } from '../plugins/registry.js';
import { validateSchema } from '../schema/validate.js';
import { usesPostArgs } from '../core/post-arg.js';
import { compileExpression, type Expression } from '../core/expr.js';
import { compileIpMatcher } from '../core/ip.js';
import { compileHosts, Router, type RouteMatchSpec } from './router.js';
import { compileTemplate } from '../core/template.js';
import { createPicker, type Picker } from '../llm/balancer/index.js';
import { GroupSelector } from '../llm/balancer/groups.js';
import type { CompileCache } from './cache.js';
import { isIP } from 'node:net';
import type { ConsumerIndex } from '../core/types.js';

export interface RuntimeEnv {
  state: CompileEnv['state'];
  health: CompileEnv['health'];
  transport: CompileEnv['transport'];
  gcpTokens: CompileEnv['gcpTokens'];
  redis: CompileEnv['redis'];
  metrics: CompileEnv['metrics'];
  scope: CompileEnv['scope'];
  log: Logger;
}

/** plugins of one list, split per phase once */
export interface PluginChain {
  all: CompiledPlugin[];
  rewrite: CompiledPlugin[];
  access: CompiledPlugin[];
  log: CompiledPlugin[];
  /** the plugin that sends the request itself (R-PIPE-9/10) */
  proxy?: CompiledPlugin;
}

export interface UpstreamNode {
  host: string;
  port: number;
  weight: number;
  /** `host:port` */
  addr: string;
  /** Host header value for pass_host: node */
  hostHeader: string;
  /** node priority (array form): lower priorities are used only when higher ones failed */
  priority: number;
  /** `scheme://host:port` */
  origin: string;
  /** a DNS name, not an IP literal: its peer address is read from the connection (R-VAR-4) */
  named: boolean;
}

export interface CompiledUpstream {
  scheme: 'http' | 'https';
  nodes: UpstreamNode[];
  picker: Picker;
  /** chash key of the request */
  hashKey?: (ctx: RequestContext) => string | undefined;
  passHost: 'pass' | 'node' | 'rewrite';
  upstreamHost?: string;
  /** milliseconds */
  timeout: { connect: number; send: number; read: number };
  retries: number;
}

export interface RuntimeConsumer extends ConsumerInfo {
  /** names of plugins disabled (`_meta.disable`) on the Consumer */
  disabled: string[];
  /** a plugin of the Consumer failed to compile: its requests answer 503 */
  broken?: boolean;
}

export interface RuntimeRoute extends RouteMatchSpec {
  id: string;
  name?: string;
  serviceId?: string;
  serviceName?: string;
  chain: PluginChain;
  upstream?: CompiledUpstream;
  /** the route cannot serve: answer this (R-RTE-9, compile failures) */
  broken?: Reply;
  /** merged chains per consumer (R-PIPE-6), filled on first use */
  consumerChains: WeakMap<ConsumerInfo, { chain: PluginChain; consumerRewrite: CompiledPlugin[] }>;
}

export type { ConsumerIndex } from '../core/types.js';

export interface Runtime {
  readonly generation: number;
  readonly router: Router<RuntimeRoute>;
  readonly routes: readonly RuntimeRoute[];
  readonly globalChain: PluginChain;
  readonly consumers: ConsumerIndex;
}

let registryOrder: Map<string, number> | undefined;

export function sortPlugins(list: CompiledPlugin[]): CompiledPlugin[] {
  const order = (registryOrder ??= new Map(pluginList.map((p, i) => [p.name, i])));
  return list.sort((a, b) => b.priority - a.priority || (order.get(a.def.name) ?? 0) - (order.get(b.def.name) ?? 0));
}

export function makeChain(all: CompiledPlugin[]): PluginChain {
  const proxy = all.find((p) => p.def.name === 'ai-proxy-multi' && p.def.proxy) ?? all.find((p) => p.def.proxy);
  return {
    all,
    rewrite: all.filter((p) => p.def.rewrite),
    access: all.filter((p) => p.def.access),
    log: all.filter((p) => p.def.log),
    proxy,
  };
}

export const EMPTY_CHAIN: PluginChain = makeChain([]);

export function confHash(json: string): string {
  return createHash('sha1').update(json).digest('hex');
}

/** a plugin entry of one resource, before merging (R-PIPE-8 applies after it) */
type Entry = { name: string; disabled: true } | { name: string; disabled?: false; plugin: CompiledPlugin };

class Compiler {
  readonly errors: string[] = [];
  constructor(readonly env: RuntimeEnv, readonly cache: CompileCache) {}

  /** compile the plugins object of one resource; failures are collected in `errs` */
  plugins(
    obj: unknown,
    parentKey: string,
    origin: CompiledPlugin['origin'],
    schemaType: 'route' | 'consumer',
    errs: string[],
  ): Entry[] {
    const out: Entry[] = [];
    if (!obj || typeof obj !== 'object') return out;
    for (const [name, raw] of Object.entries(obj as Record<string, unknown>)) {
      const def = getPlugin(name);
      if (!def) {
        errs.push(`unknown plugin [${name}]`);
        continue;
      }
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
        errs.push(`invalid plugin conf ${JSON.stringify(raw)} for plugin [${name}]`);
        continue;
      }
      const { _meta, ...conf } = raw as Record<string, unknown> & { _meta?: Record<string, unknown> };
      const meta = (_meta && typeof _meta === 'object' ? _meta : {}) as Record<string, unknown>;
      if (meta.disable === true) {
        out.push({ name, disabled: true });
        continue;
      }
      try {
        const plugin = this.plugin(def, conf, meta, parentKey, origin, schemaType);
        out.push({ name, plugin });
      } catch (e) {
        errs.push((e as Error).message);
      }
    }
    return out;
  }

  private plugin(
    def: PluginDef,
    conf: Record<string, unknown>,
    meta: Record<string, unknown>,
    parentKey: string,
    origin: CompiledPlugin['origin'],
    schemaType: 'route' | 'consumer',
  ): CompiledPlugin {
    const schema = schemaType === 'consumer' && def.consumerSchema ? def.consumerSchema : def.schema;
    const json = JSON.stringify(conf);
    const cacheKey = `plugin\0${parentKey}\0${def.name}\0${schemaType}\0${json}`;
    const compiled = this.cache.use(cacheKey, () => {
      const v = validateSchema(schema, conf);
      if (!v.ok) throw new Error(`failed to check the configuration of plugin ${def.name} err: ${v.error}`);
      const err = def.check?.(v.value, schemaType);
      if (err) throw new Error(`failed to check the configuration of plugin ${def.name} err: ${err}`);
      const env: CompileEnv = {
        parentKey,
        confHash: confHash(json),
        state: this.env.state,
        health: this.env.health,
        transport: this.env.transport,
        gcpTokens: this.env.gcpTokens,
        redis: this.env.redis,
        metrics: this.env.metrics,
        scope: this.env.scope,
        log: this.env.log,
      };
      let value: unknown;
      try {
        value = def.compile ? def.compile(v.value, env) : v.value;
      } catch (e) {
        throw new Error(`failed to compile plugin ${def.name}: ${(e as Error).message}`);
      }
      return { value, destroy: def.destroy ? () => def.destroy!(value) : undefined };
    });
    const p: CompiledPlugin = {
      def,
      priority: typeof meta.priority === 'number' ? meta.priority : def.priority,
      conf: compiled,
      origin,
      parentKey,
    };
    if (Array.isArray(meta.filter) && meta.filter.length) {
      try {
        p.filter = compileExpression(meta.filter);
      } catch (e) {
        throw new Error(`failed to validate the _meta.filter of plugin ${def.name}: ${(e as Error).message}`);
      }
    }
    if (meta.error_response !== undefined && (typeof meta.error_response === 'string' || typeof meta.error_response === 'object')) {
      p.errorResponse = meta.error_response as string | Record<string, unknown>;
    }
    return p;
  }

  upstream(up: JsonObject, ownerKey: string, routeTimeout: unknown): CompiledUpstream {
    const json = JSON.stringify(up);
    const base = this.cache.use(`upstream\0${ownerKey}\0${json}`, () => {
      const value = compileUpstream(up);
      const ignored = ['checks', 'tls', 'keepalive_pool', 'discovery_type', 'service_name'].filter((k) => k in up);
      if (ignored.length) this.env.log.warn(`${ownerKey}: upstream ${ignored.join(', ')} not implemented by switchyard, ignored (R-UPS-8)`);
      return { value };
    });
    const t = routeTimeout as { connect?: number; send?: number; read?: number } | undefined;
    if (t && typeof t === 'object') {
      return {
        ...base,
        timeout: {
          connect: toMs(t.connect, base.timeout.connect),
          send: toMs(t.send, base.timeout.send),
          read: toMs(t.read, base.timeout.read),
        },
      };
    }
    return base;
  }
}

function toMs(sec: unknown, dflt: number): number {
  return typeof sec === 'number' && sec > 0 ? Math.round(sec * 1000) : dflt;
}

function parseNodes(nodes: unknown, scheme: string): UpstreamNode[] {
  const dfltPort = scheme === 'https' ? 443 : 80;
  const out: UpstreamNode[] = [];
  const add = (hostRaw: string, port: number, weight: number, priority = 0) => {
    const host = hostRaw.startsWith('[') && hostRaw.endsWith(']') ? hostRaw.slice(1, -1) : hostRaw;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    out.push({
      host,
      port,
      weight,
      addr: `${hostPart}:${port}`,
      hostHeader: port === dfltPort ? hostPart : `${hostPart}:${port}`,
      priority,
      origin: `${scheme}://${hostPart}:${port}`,
      named: isIP(host) === 0,
    });
  };
  if (Array.isArray(nodes)) {
    for (const n of nodes as Array<Record<string, unknown>>) {
      if (!n || typeof n.host !== 'string') continue;
      add(n.host, typeof n.port === 'number' ? n.port : dfltPort, typeof n.weight === 'number' ? n.weight : 1, typeof n.priority === 'number' ? n.priority : 0);
    }
  } else if (nodes && typeof nodes === 'object') {
    for (const [k, w] of Object.entries(nodes as Record<string, unknown>)) {
      let host = k;
      let port = dfltPort;
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(k);
      if (m) {
        host = m[1]!;
        port = Number(m[2]);
      }
      add(host, port, typeof w === 'number' ? w : 1);
    }
  }
  return out;
}

export function compileUpstream(up: JsonObject): CompiledUpstream {
  const scheme = up.scheme === 'https' ? 'https' : 'http';
  const nodes = parseNodes(up.nodes, scheme).filter((n) => n.weight > 0);
  const type = up.type === 'chash' ? 'chash' : 'roundrobin';
  let picker: Picker;
  if (nodes.some((n) => n.priority !== nodes[0]!.priority)) {
    // priority groups (highest first), a weighted picker inside each
    const sel = new GroupSelector(nodes.map((n, index) => ({ index, name: n.addr, priority: n.priority, weight: n.weight })), type);
    picker = { pick: (tried, key) => sel.pick(tried, key)?.index };
  } else {
    picker = createPicker(type, nodes.map((n) => n.addr), nodes.map((n) => n.weight));
  }
  const t = (up.timeout ?? {}) as { connect?: number; send?: number; read?: number };
  let hashKey: CompiledUpstream['hashKey'];
  if (type === 'chash') {
    const hashOn = typeof up.hash_on === 'string' ? up.hash_on : 'vars';
    const key = typeof up.key === 'string' ? up.key : '';
    switch (hashOn) {
      case 'header': {
        const v = 'http_' + key.toLowerCase().replace(/-/g, '_');
        hashKey = (ctx) => ctx.getVar(v)?.toString();
        break;
      }
      case 'cookie': {
        const v = 'cookie_' + key;
        hashKey = (ctx) => ctx.getVar(v)?.toString();
        break;
      }
      case 'consumer':
        hashKey = (ctx) => ctx.consumer?.username;
        break;
      case 'vars_combinations': {
        const tpl = compileTemplate(key);
        hashKey = (ctx) => {
          const r = tpl.render((n) => ctx.getVar(n));
          return r.resolved ? r.text : undefined;
        };
        break;
      }
      default: {
        const v = (key || 'remote_addr').replace(/^\$/, '');
        hashKey = (ctx) => ctx.getVar(v)?.toString();
      }
    }
  }
  return {
    scheme,
    nodes,
    picker,
    hashKey,
    passHost: up.pass_host === 'node' || up.pass_host === 'rewrite' ? up.pass_host : 'pass',
    upstreamHost: typeof up.upstream_host === 'string' ? up.upstream_host : undefined,
    timeout: { connect: toMs(t.connect, 60_000), send: toMs(t.send, 60_000), read: toMs(t.read, 60_000) },
    retries: typeof up.retries === 'number' && up.retries >= 0 ? up.retries : Math.max(0, nodes.length - 1),
  };
}

/** merge entries in order of precedence (later wins per name), then drop disabled (R-PIPE-5/6/8) */
export function mergeEntries(...layers: Entry[][]): CompiledPlugin[] {
  const byName = new Map<string, Entry>();
  for (const layer of layers) for (const e of layer) byName.set(e.name, e);
  const out: CompiledPlugin[] = [];
  for (const e of byName.values()) if (!e.disabled) out.push(e.plugin);
  return sortPlugins(out);
}

/**
 * R-PIPE-6: the route's chain with the consumer's plugins overlaid. Built the
 * first time the pair meets in a compiled configuration and kept with the
 * route; `log` then says which of the route's plugins the consumer's replace
 * (once per configuration change and pair, never per request).
 */
export function consumerChain(route: RuntimeRoute, consumer: ConsumerInfo, log?: Logger): { chain: PluginChain; consumerRewrite: CompiledPlugin[] } {
  let m = route.consumerChains.get(consumer);
  if (m) return m;
  const disabled = new Set((consumer as RuntimeConsumer).disabled ?? []);
  const fromConsumer = new Map(consumer.plugins.map((p) => [p.def.name, p]));
  const merged: CompiledPlugin[] = [];
  const replaced: string[] = [];
  for (const p of route.chain.all) {
    if (fromConsumer.has(p.def.name)) {
      if (p.def.type !== 'auth') replaced.push(p.def.name);
      continue;
    }
    if (disabled.has(p.def.name)) continue;
    merged.push(p);
  }
  if (replaced.length && log) {
    const what = replaced.length === 1 ? `${replaced[0]} replaces` : `${replaced.join(', ')} replace`;
    log.info(`consumer ${consumer.username}: its ${what} the configuration of route ${route.id} (consumer plugins win, R-PIPE-6)`);
  }
  for (const p of consumer.plugins) merged.push(p);
  const all = sortPlugins(merged);
  m = {
    chain: makeChain(all),
    consumerRewrite: consumer.plugins.filter((p) => p.def.rewrite && p.def.type !== 'auth'),
  };
  route.consumerChains.set(consumer, m);
  return m;
}

function idOf(item: StoredItem): string {
  const v = item.value.id;
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  return item.key.slice(item.key.lastIndexOf('/') + 1);
}

function strList(v: unknown): string[] | undefined {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return undefined;
}

let generationCounter = 0;

/**
 * Compile everything. Errors in one resource never fail the whole Runtime:
 * they are logged and that resource answers an error page.
 */
export function compileRuntime(snapshot: ReadonlyMap<string, StoredItem>, env: RuntimeEnv, cache: CompileCache): Runtime {
  const c = new Compiler(env, cache);
  const log = env.log;
  const routes: StoredItem[] = [];
  const services = new Map<string, StoredItem>();
  const upstreams = new Map<string, StoredItem>();
  const consumers: StoredItem[] = [];
  const credentials: StoredItem[] = [];
  const globals: StoredItem[] = [];
  for (const item of snapshot.values()) {
    const parts = item.key.split('/');
    if (parts[1] !== 'apisix' || !item.value || typeof item.value !== 'object') continue;
    const kind = parts[2];
    if (parts.length === 4) {
      if (kind === 'routes') routes.push(item);
      else if (kind === 'services') services.set(parts[3]!, item);
      else if (kind === 'upstreams') upstreams.set(parts[3]!, item);
      else if (kind === 'consumers') consumers.push(item);
      else if (kind === 'global_rules') globals.push(item);
    } else if (parts.length === 6 && kind === 'consumers' && parts[4] === 'credentials') {
      credentials.push(item);
    }
  }
  const byKey = (a: StoredItem, b: StoredItem) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  globals.sort(byKey);
  consumers.sort(byKey);
  credentials.sort(byKey);
  routes.sort(byKey);

  // ---- global rules (R-PIPE-7)
  const globalEntries: CompiledPlugin[] = [];
  const seen = new Map<string, string>();
  const dup = new Set<string>();
  for (const g of globals) {
    const errs: string[] = [];
    const entries = c.plugins(g.value.plugins, g.key, 'global', 'route', errs);
    for (const e of errs) log.error(`global rule ${g.key}: ${e}; plugin skipped`);
    for (const e of entries) {
      if (seen.has(e.name)) {
        dup.add(e.name);
        log.error(`plugin '${e.name}' appears in global rules ${seen.get(e.name)} and ${g.key}: dropped from the global rules`);
        continue;
      }
      seen.set(e.name, g.key);
      if (!e.disabled) globalEntries.push(e.plugin);
    }
  }
  const globalChain = makeChain(sortPlugins(globalEntries.filter((p) => !dup.has(p.def.name))));

  // ---- consumers (R-KA-2/4/9)
  const byName = new Map<string, RuntimeConsumer>();
  const keyed: Array<{ itemKey: string; key: string; consumer: RuntimeConsumer }> = [];
  const credsOf = new Map<string, StoredItem[]>();
  for (const cr of credentials) {
    const u = cr.key.split('/')[3]!;
    const l = credsOf.get(u);
    if (l) l.push(cr);
    else credsOf.set(u, [cr]);
  }
  for (const ci of consumers) {
    const v = ci.value;
    const username = typeof v.username === 'string' ? v.username : ci.key.split('/')[3]!;
    const errs: string[] = [];
    const plugObj = (v.plugins && typeof v.plugins === 'object' ? v.plugins : {}) as Record<string, unknown>;
    const nonAuth: Record<string, unknown> = {};
    const authConfs: Array<[string, unknown]> = [];
    for (const [name, conf] of Object.entries(plugObj)) {
      if (getPlugin(name)?.type === 'auth') authConfs.push([name, conf]);
      else nonAuth[name] = conf;
    }
    const entries = c.plugins(nonAuth, ci.key, 'consumer', 'route', errs);
    for (const e of errs) log.error(`consumer ${username}: ${e}`);
    const labels = v.labels && typeof v.labels === 'object' ? (v.labels as Record<string, string>) : undefined;
    const base: RuntimeConsumer = {
      username,
      plugins: sortPlugins(entries.filter((e): e is Extract<Entry, { plugin: CompiledPlugin }> => !e.disabled).map((e) => e.plugin)),
      disabled: entries.filter((e) => e.disabled).map((e) => e.name),
      labels,
      broken: errs.length > 0 || undefined,
    };
    byName.set(username, base);
    for (const [name, conf] of authConfs) {
      if (name !== 'key-auth') continue;
      const k = authKey(conf);
      if (k !== undefined) keyed.push({ itemKey: ci.key, key: k, consumer: base });
    }
    for (const cr of credsOf.get(username) ?? []) {
      const cplugins = (cr.value.plugins && typeof cr.value.plugins === 'object' ? cr.value.plugins : {}) as Record<string, unknown>;
      const k = authKey(cplugins['key-auth']);
      if (k === undefined) continue;
      const credentialId = cr.key.slice(cr.key.lastIndexOf('/') + 1);
      keyed.push({ itemKey: cr.key, key: k, consumer: { ...base, credentialId } });
    }
  }
  keyed.sort((a, b) => (a.itemKey < b.itemKey ? -1 : a.itemKey > b.itemKey ? 1 : 0));
  const consumerIndex = buildConsumerIndex(keyed, byName);

  // ---- routes (R-RTE, R-PIPE-5)
  const compiled: RuntimeRoute[] = [];
  for (const ri of routes) {
    const v = ri.value;
    if (v.status === 0) continue; // R-RTE-6
    const id = idOf(ri);
    const errs: string[] = [];
    const serviceId = v.service_id !== undefined && v.service_id !== null ? String(v.service_id) : undefined;
    const svc = serviceId !== undefined ? services.get(serviceId) : undefined;
    let broken: Reply | undefined;
    if (serviceId !== undefined && !svc) {
      log.warn(`route ${ri.key}: service ${serviceId} not found (R-RTE-9)`);
      broken = pageError(404);
    }
    const sv = svc?.value;
    const svcEntries = sv ? c.plugins(sv.plugins, svc!.key, 'service', 'route', errs) : [];
    const routeEntries = c.plugins(v.plugins, ri.key, 'route', 'route', errs);
    const all = mergeEntries(svcEntries, routeEntries);

    // upstream: the Route's own, else the Service's (R-PIPE-5)
    let upstream: CompiledUpstream | undefined;
    const pickUp = (owner: JsonObject, ownerKey: string): boolean => {
      if (owner.upstream && typeof owner.upstream === 'object') {
        upstream = c.upstream(owner.upstream as JsonObject, ownerKey, v.timeout);
        return true;
      }
      if (owner.upstream_id !== undefined && owner.upstream_id !== null) {
        const u = upstreams.get(String(owner.upstream_id));
        if (!u) errs.push(`upstream ${String(owner.upstream_id)} not found`);
        else upstream = c.upstream(u.value, u.key, v.timeout);
        return true;
      }
      return false;
    };
    try {
      if (!pickUp(v, ri.key) && sv) pickUp(sv, svc!.key);
    } catch (e) {
      errs.push(`upstream: ${(e as Error).message}`);
    }

    let vars: Expression | undefined;
    if (Array.isArray(v.vars) && v.vars.length) {
      try {
        vars = compileExpression(v.vars);
      } catch (e) {
        errs.push(`failed to validate the 'vars' expression: ${(e as Error).message}`);
      }
    }
    let remoteAddrs: RouteMatchSpec['remoteAddrs'];
    const ra = strList(v.remote_addrs ?? v.remote_addr);
    if (ra) {
      try {
        remoteAddrs = compileIpMatcher(ra);
      } catch (e) {
        errs.push((e as Error).message);
      }
    }
    if (errs.length && !broken) {
      for (const e of errs) log.error(`route ${ri.key}: ${e}`);
      broken = pageError(503);
    }
    const uris = strList(v.uris ?? v.uri) ?? [];
    const methods = strList(v.methods);
    compiled.push({
      key: ri.key,
      id,
      name: typeof v.name === 'string' ? v.name : undefined,
      serviceId,
      serviceName: typeof sv?.name === 'string' ? sv.name : undefined,
      priority: typeof v.priority === 'number' ? v.priority : 0,
      uris,
      hosts: compileHosts(strList(v.hosts ?? v.host) ?? strList(sv?.hosts)),
      methods: methods ? new Set(methods.map((m) => m.toUpperCase())) : undefined,
      remoteAddrs,
      vars,
      varsNeedBody: vars !== undefined && usesPostArgs(v.vars),
      chain: makeChain(all),
      upstream,
      broken,
      consumerChains: new WeakMap(),
    });
  }

  return {
    generation: ++generationCounter,
    router: new Router(compiled),
    routes: compiled,
    globalChain,
    consumers: consumerIndex,
  };
}

function authKey(conf: unknown): string | undefined {
  if (!conf || typeof conf !== 'object') return undefined;
  const k = (conf as Record<string, unknown>).key;
  return typeof k === 'string' ? k : undefined;
}

function buildConsumerIndex(
  keyed: Array<{ itemKey: string; key: string; consumer: RuntimeConsumer }>,
  byName: Map<string, RuntimeConsumer>,
): ConsumerIndex {
  const map = new Map<string, RuntimeConsumer>();
  const refs: Array<{ ref: string; consumer: RuntimeConsumer }> = [];
  for (const k of keyed) {
    let key = k.key;
    if (isSecretRef(key)) {
      refs.push({ ref: key, consumer: k.consumer });
      key = resolveSecret(key);
    }
    if (!map.has(key)) map.set(key, k.consumer);
  }
  return {
    size: map.size,
    findByKey(key: string) {
      const hit = map.get(key);
      if (hit) return hit;
      // R-SEC-1: references are resolved at request time; retry them on a miss
      for (let i = 0; i < refs.length; i++) {
        if (resolveSecret(refs[i]!.ref) === key) return refs[i]!.consumer;
      }
      return undefined;
    },
    findByName(username: string) {
      return byName.get(username);
    },
  };
}
