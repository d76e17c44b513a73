// Active health checks of ai-proxy-multi instances (R-HC-*).
//
// One checker per checked instance ("target"), grouped by the configuration
// that registered them (parent key + configuration hash). A group is
// reference counted: the same (parentKey, confHash) pair reuses the running
// checkers, the last handle's destroy() stops every timer and socket of the
// group. Status lives in the checker (so `isHealthy()` is a synchronous map
// lookup) and every status change is also published to the SharedState layer
// under `healthcheck|<checker name>|<confHash>` so a cluster can share it.
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import type { SharedState } from '../../state/types.js';
import type { Logger } from '../../core/log.js';
import type { HealthHandle, HealthReportEntry, HealthService, HealthTarget } from './types.js';
import { normalizeChecks, type ActiveConf } from './conf.js';
import { probe, type ProbeOutcome } from './probe.js';

export { normalizeChecks } from './conf.js';
export type { ActiveConf } from './conf.js';

export type TargetStatus = 'healthy' | 'mostly_healthy' | 'unhealthy' | 'mostly_unhealthy';

export interface HealthServiceOptions {
  state: SharedState;
  disabled: boolean;
  log: Logger;
  /** upper bound of probes in flight over all checkers (default 64) */
  maxConcurrentProbes?: number;
  /** how long a DNS answer is reused before the endpoint host is resolved again (ms, default 10000) */
  dnsTtlMs?: number;
  /** resolver (tests); default dns.promises.lookup */
  resolve?: (host: string) => Promise<string>;
}

const MAX_COUNTER = 255;

function isHealthyClass(s: TargetStatus): boolean {
  return s === 'healthy' || s === 'mostly_healthy';
}

async function defaultResolve(host: string): Promise<string> {
  const r = await lookup(host);
  return r.address;
}

/** bounds the number of probes in flight over the whole process */
class ProbeLimiter {
  private running = 0;
  private readonly queue: Array<() => void> = [];
  constructor(readonly max: number) {}
  /** calls `grant` when a slot is free (maybe now); returns a function that withdraws the request */
  acquire(grant: () => void): () => void {
    if (this.running < this.max) {
      this.running++;
      grant();
      return () => {};
    }
    const wrapped = () => {
      this.running++;
      grant();
    };
    this.queue.push(wrapped);
    return () => {
      const i = this.queue.indexOf(wrapped);
      if (i >= 0) this.queue.splice(i, 1);
    };
  }
  release(): void {
    this.running--;
    while (this.running < this.max && this.queue.length) this.queue.shift()!();
  }
  get inFlight(): number {
    return this.running;
  }
  get waiting(): number {
    return this.queue.length;
  }
}

/**
 * R-HC-9: the state after one probe outcome; `counter` is updated in place
 * (each counter saturates at 255).
 */
export function transition(
  status: TargetStatus,
  counter: { success: number; http_failure: number; tcp_failure: number; timeout_failure: number },
  kind: ProbeOutcome['kind'],
  conf: Pick<ActiveConf, 'healthy' | 'unhealthy'>,
): TargetStatus {
  const c = counter;
  if (kind === 'ignored') return status;
  if (kind === 'success') {
    if (status === 'healthy') return status;
    c.success = Math.min(MAX_COUNTER, c.success + 1);
    c.http_failure = c.tcp_failure = c.timeout_failure = 0;
    if (c.success >= conf.healthy.successes) return 'healthy';
    return status === 'unhealthy' ? 'mostly_unhealthy' : status;
  }
  if (status === 'unhealthy') return status;
  let n: number;
  let threshold: number;
  if (kind === 'http_failure') {
    n = c.http_failure = Math.min(MAX_COUNTER, c.http_failure + 1);
    threshold = conf.unhealthy.httpFailures;
  } else if (kind === 'tcp_failure') {
    n = c.tcp_failure = Math.min(MAX_COUNTER, c.tcp_failure + 1);
    threshold = conf.unhealthy.tcpFailures;
  } else {
    n = c.timeout_failure = Math.min(MAX_COUNTER, c.timeout_failure + 1);
    threshold = conf.unhealthy.timeouts;
  }
  c.success = 0;
  if (n >= threshold) return 'unhealthy';
  return status === 'healthy' ? 'mostly_healthy' : status;
}

/** one target of one checker: the probe loop and the state machine (R-HC-7..9) */
class TargetChecker {
  status: TargetStatus = 'healthy';
  readonly counter = { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 };
  ip: string | undefined;
  private resolvedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private abortProbe: (() => void) | undefined;
  private withdraw: (() => void) | undefined;
  private cancelWait: (() => void) | undefined;
  private stopped = false;
  private warnedResolve = false;
  readonly port: number;
  readonly hostname: string;
  /** the endpoint host without IPv6 brackets: an IP, or a name to resolve */
  readonly address: string;
  readonly path: string;
  readonly headers: string[];

  constructor(
    readonly group: CheckerGroup,
    readonly target: HealthTarget,
    readonly index: number,
    readonly conf: ActiveConf,
  ) {
    this.port = conf.port ?? target.port;
    this.hostname = conf.host ?? (net.isIPv6(target.host) ? `[${target.host}]` : target.host);
    this.path = probePath(conf.httpPath, target.auth?.query);
    this.headers = probeHeaders(conf.reqHeaders, target.auth?.header);
    this.address = target.host.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(this.address)) {
      this.ip = this.address;
      this.resolvedAt = Infinity;
    }
  }

  get name(): string {
    const plugin = this.target.plugin ?? 'ai-proxy-multi';
    return `${this.group.parentKey}#plugins['${plugin}'].instances[${this.index}]`;
  }

  start(): void {
    // R-HC-7: the first probe happens one interval after the checker starts
    this.schedule();
    // resolve early so that the Control API can list the checker
    if (this.ip === undefined) void this.resolveIp();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abortProbe?.();
    this.abortProbe = undefined;
    this.withdraw?.();
    this.cancelWait?.();
    this.withdraw = this.cancelWait = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    const ms = isHealthyClass(this.status) ? this.conf.healthy.intervalMs : this.conf.unhealthy.intervalMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private async resolveIp(): Promise<boolean> {
    const svc = this.group.svc;
    try {
      const ip = await svc.resolve(this.address);
      if (this.stopped) return false;
      this.resolvedAt = Date.now();
      this.warnedResolve = false;
      if (this.ip !== undefined && ip !== this.ip) {
        // R-HC-12: a new resolved IP is a new checker with a fresh state
        svc.log.info(`health check: ${this.name} endpoint ${this.target.host} now resolves to ${ip} (was ${this.ip}); state reset`);
        this.reset();
      }
      this.ip = ip;
      return true;
    } catch (err) {
      if (this.stopped) return false;
      if (!this.warnedResolve) {
        // R-HC-3: no checker (the instance stays a candidate) until the host resolves
        svc.log.warn(`health check: cannot resolve ${this.target.host} for ${this.name}: ${(err as Error).message}`);
        this.warnedResolve = true;
      }
      return this.ip !== undefined;
    }
  }

  private reset(): void {
    const was = this.status;
    this.status = 'healthy';
    this.counter.success = this.counter.http_failure = this.counter.tcp_failure = this.counter.timeout_failure = 0;
    this.group.changed(this, was);
  }

  private async run(): Promise<void> {
    const svc = this.group.svc;
    if (this.stopped) return;
    if (this.ip === undefined || Date.now() - this.resolvedAt > svc.dnsTtlMs) {
      const ok = await this.resolveIp();
      if (!ok || this.stopped) {
        this.schedule();
        return;
      }
    }
    const granted = await new Promise<boolean>((resolve) => {
      this.withdraw = svc.limiter.acquire(() => resolve(true));
      this.cancelWait = () => resolve(false);
    });
    this.withdraw = this.cancelWait = undefined;
    if (!granted) return;
    let outcome: ProbeOutcome;
    try {
      if (this.stopped) return;
      const p = probe({
        type: this.conf.type,
        ip: this.ip!,
        port: this.port,
        hostname: this.hostname,
        path: this.path,
        headers: this.headers,
        timeoutMs: this.conf.timeoutMs,
        verify: this.conf.verify,
        healthyStatuses: this.conf.healthy.statuses,
        unhealthyStatuses: this.conf.unhealthy.statuses,
      });
      this.abortProbe = p.abort;
      outcome = await p.result;
    } finally {
      this.abortProbe = undefined;
      svc.limiter.release();
    }
    if (this.stopped) return;
    this.apply(outcome);
    this.schedule();
  }

  /** R-HC-9 */
  apply(outcome: ProbeOutcome): void {
    const was = this.status;
    this.status = transition(this.status, this.counter, outcome.kind, this.conf);
    if (this.status !== was) {
      this.group.svc.log.info(
        `health check: ${this.name} (${this.target.name}) ${this.ip}:${this.port} ${was} -> ${this.status}` +
          (outcome.detail ? ` (${outcome.detail})` : ''),
      );
      this.group.changed(this, was);
    }
  }

  entry(): HealthReportEntry['nodes'][number] | undefined {
    if (this.ip === undefined) return undefined;
    return { ip: this.ip, port: this.port, hostname: this.hostname, status: this.status, counter: { ...this.counter } };
  }
}

export function probePath(path: string, query: Record<string, string> | undefined): string {
  if (!query) return path;
  const parts: string[] = [];
  for (const k of Object.keys(query)) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(query[k]))}`);
  if (!parts.length) return path;
  return path + (path.includes('?') ? '&' : '?') + parts.join('&');
}

export function probeHeaders(reqHeaders: string[], authHeaders: Record<string, string> | undefined): string[] {
  const out = [...reqHeaders];
  if (authHeaders) {
    for (const k of Object.keys(authHeaders)) {
      const line = `${k}: ${authHeaders[k]}`;
      if (!reqHeaders.includes(line)) out.push(line);
    }
  }
  return out;
}

/** the checkers of one (parentKey, confHash) registration */
class CheckerGroup {
  refs = 0;
  version = 0;
  readonly byName = new Map<string, TargetChecker>();
  readonly checkers: TargetChecker[] = [];
  constructor(
    readonly svc: Service,
    readonly parentKey: string,
    readonly confHash: string,
    targets: HealthTarget[],
  ) {
    targets.forEach((t, i) => {
      if (!t || typeof t.name !== 'string') return;
      if (this.byName.has(t.name)) return;
      if (!t.host) {
        svc.log.warn(`health check: instance ${t.name} of ${parentKey} has no endpoint host; not checked`);
        return;
      }
      const conf = normalizeChecks(t.checks);
      const c = new TargetChecker(this, t, t.index ?? i, conf);
      this.byName.set(t.name, c);
      this.checkers.push(c);
    });
  }
  start(): void {
    for (const c of this.checkers) c.start();
  }
  stop(): void {
    for (const c of this.checkers) c.stop();
  }
  changed(c: TargetChecker, was: TargetStatus): void {
    if (isHealthyClass(was) !== isHealthyClass(c.status)) this.version++;
    const key = `healthcheck|${c.name}|${this.confHash}`;
    const value = JSON.stringify({ instance: c.target.name, ip: c.ip, port: c.port, status: c.status, counter: c.counter });
    this.svc.state.setValue(key, value).catch((err: Error) => {
      this.svc.log.warn(`health check: cannot publish status of ${c.name}: ${err.message}`);
    });
  }
}

const ALWAYS_HEALTHY: HealthHandle = Object.freeze({ isHealthy: () => true, version: 0, destroy() {} });

class Service implements HealthService {
  readonly groups = new Map<string, CheckerGroup>();
  readonly limiter: ProbeLimiter;
  readonly state: SharedState;
  readonly log: Logger;
  readonly disabled: boolean;
  readonly dnsTtlMs: number;
  readonly resolve: (host: string) => Promise<string>;
  private closed = false;

  constructor(opts: HealthServiceOptions) {
    this.state = opts.state;
    this.log = opts.log;
    this.disabled = opts.disabled;
    this.limiter = new ProbeLimiter(Math.max(1, opts.maxConcurrentProbes ?? 64));
    this.dnsTtlMs = opts.dnsTtlMs ?? 10_000;
    this.resolve = opts.resolve ?? defaultResolve;
  }

  register(parentKey: string, confHash: string, targets: HealthTarget[]): HealthHandle {
    if (!targets || targets.length === 0) return ALWAYS_HEALTHY;
    if (this.disabled) {
      // R-HC-15
      this.log.warn(`disabled upstream healthcheck: checks of ${parentKey} (${targets.map((t) => t.name).join(', ')}) are ignored`);
      return ALWAYS_HEALTHY;
    }
    if (this.closed) return ALWAYS_HEALTHY;
    const key = `${parentKey}\u0000${confHash}`;
    let group = this.groups.get(key);
    if (!group) {
      group = new CheckerGroup(this, parentKey, confHash, targets);
      this.groups.set(key, group);
      group.start();
    }
    group.refs++;
    const g = group;
    let destroyed = false;
    return {
      isHealthy(name: string): boolean {
        const c = g.byName.get(name);
        return c === undefined || isHealthyClass(c.status);
      },
      get version() {
        return g.version;
      },
      destroy: () => {
        if (destroyed) return;
        destroyed = true;
        g.refs--;
        if (g.refs <= 0 && this.groups.get(key) === g) {
          this.groups.delete(key);
          g.stop();
        }
      },
    };
  }

  report(): HealthReportEntry[] {
    const out: HealthReportEntry[] = [];
    for (const g of this.groups.values()) {
      for (const c of g.checkers) {
        const node = c.entry();
        if (!node) continue;
        out.push({ name: c.name, instance: c.target.name, type: c.conf.type, nodes: [node] });
      }
    }
    return out;
  }

  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) g.stop();
    this.groups.clear();
  }
}

export function createHealthService(opts: HealthServiceOptions): HealthService & {
  report(): HealthReportEntry[];
  /** probes running / waiting for a slot (tests, diagnostics) */
  stats(): { groups: number; checkers: number; inFlight: number; waiting: number };
} {
  const svc = new Service(opts);
  return Object.assign(svc, {
    stats() {
      let checkers = 0;
      for (const g of svc.groups.values()) checkers += g.checkers.length;
      return { groups: svc.groups.size, checkers, inFlight: svc.limiter.inFlight, waiting: svc.limiter.waiting };
    },
  });
}

// re-exported for tests
export { probe } from './probe.js';
export type { ProbeOutcome } from './probe.js';
