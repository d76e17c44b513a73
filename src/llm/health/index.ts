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
import type { HealthHandle, HealthReportEntry, HealthService, HealthTarget, PassiveKind } from './types.js';
import { normalizeChecks, normalizePassive, type ActiveConf, type PassiveConf } from './conf.js';
import { classifyStatus } from './probe.js';
import { probe, type ProbeOutcome } from './probe.js';

export { normalizeChecks, normalizePassive, retryAfterMs } from './conf.js';
export type { ActiveConf, PassiveConf } from './conf.js';

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
  /** R-PHC-1: wait before a passive-only unhealthy instance gets a trial request (ms, default 10000) */
  trialDelayMs?: number;
  /** R-PHC-1: a claimed trial that reports nothing within this is given up (ms, default 60000) */
  trialLeaseMs?: number;
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
  conf: { healthy: { successes: number }; unhealthy: { httpFailures: number; tcpFailures: number; timeouts: number } },
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
  // a threshold of 0 (passive checks, R-PHC-1) never trips
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
  if (threshold > 0 && n >= threshold) return 'unhealthy';
  return status === 'healthy' ? 'mostly_healthy' : status;
}

/** one target of one checker: the probe loop and the state machine (R-HC-7..9), passive health (R-PHC-1), cool-down (R-PHC-2) */
class TargetChecker {
  status: TargetStatus = 'healthy';
  /** R-PHC-2: epoch ms the cool-down ends (0: none) */
  coolUntil = 0;
  private coolTimer: NodeJS.Timeout | undefined;
  /** R-PHC-1 passive-only recovery: a trial request may be sent / one is in flight */
  trialOpen = false;
  trialTaken = false;
  private trialTimer: NodeJS.Timeout | undefined;
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
    /** probes run (checks.active present and an endpoint host) */
    readonly active: boolean,
    readonly passive: PassiveConf | undefined,
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

  get listed(): boolean {
    return this.active || this.passive !== undefined || this.coolUntil > 0;
  }

  get checkType(): 'http' | 'https' | 'tcp' {
    if (this.active) return this.conf.type;
    if (this.passive) return this.passive.type;
    return this.target.scheme === 'https' ? 'https' : 'http';
  }

  start(): void {
    if (!this.active) {
      // no probes: the report shows the endpoint host as it is configured
      if (this.ip === undefined && this.address) this.ip = this.address;
      return;
    }
    // R-HC-7: the first probe happens one interval after the checker starts
    this.schedule();
    // resolve early so that the Control API can list the checker
    if (this.ip === undefined) void this.resolveIp();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.coolTimer) clearTimeout(this.coolTimer);
    if (this.trialTimer) clearTimeout(this.trialTimer);
    this.coolTimer = this.trialTimer = undefined;
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

  /** R-PHC-2: no request for `ms` (the longest of overlapping cool-downs wins) */
  cool(ms: number): void {
    if (this.stopped) return;
    const until = Date.now() + ms;
    if (until <= this.coolUntil) return;
    const was = this.coolUntil;
    this.coolUntil = until;
    if (this.coolTimer) clearTimeout(this.coolTimer);
    this.coolTimer = setTimeout(() => {
      this.coolTimer = undefined;
      this.coolUntil = 0;
      this.group.svc.log.info(`health check: ${this.name} (${this.target.name}) cool-down over`);
      this.group.bump(this);
    }, ms);
    this.coolTimer.unref();
    if (was === 0) this.group.svc.log.warn(`health check: ${this.name} (${this.target.name}) cooling down for ${Math.ceil(ms / 1000)} s (Retry-After)`);
    this.group.bump(this);
  }

  /** R-PHC-1: one passive observation */
  observe(kind: PassiveKind, status: number): void {
    const p = this.passive;
    const wasTrial = this.trialTaken;
    if (wasTrial) this.endTrial();
    if (!p || this.stopped) {
      if (wasTrial) this.group.bump(this);
      return;
    }
    let k: ProbeOutcome['kind'];
    if (kind === 'status') k = classifyStatus(status, p.healthy.statuses, p.unhealthy.statuses);
    else if (kind === 'tcp_failure') k = 'tcp_failure';
    else if (kind === 'timeout') k = 'timeout';
    else k = 'ignored';
    if (k === 'ignored' || (k === 'success' && this.status === 'healthy')) {
      if (wasTrial) this.group.bump(this);
      return;
    }
    const was = this.status;
    if (wasTrial && k !== 'success') {
      // a failed trial: unhealthy again, the next trial after another delay
      this.counter.success = 0;
      this.status = 'unhealthy';
    } else {
      this.status = transition(this.status, this.counter, k, p);
    }
    if (this.status !== was) {
      this.group.svc.log.info(`health check: ${this.name} (${this.target.name}) ${was} -> ${this.status} (passive: ${kind === 'status' ? `status ${status}` : kind})`);
    }
    if (!this.active) {
      if (this.status === 'healthy' || this.status === 'mostly_healthy') this.trialOpen = false;
      else if (this.status === 'unhealthy' && (was !== 'unhealthy' || wasTrial)) this.scheduleTrial();
    }
    if (this.status !== was) this.group.changed(this, was);
    // the trial ended: what the balancer may pick changed even within the unhealthy class
    if (wasTrial) this.group.bump(this);
  }

  /** R-PHC-1: without active checks, an unhealthy target is offered a trial request after a delay */
  private scheduleTrial(): void {
    this.trialOpen = false;
    if (this.trialTimer) clearTimeout(this.trialTimer);
    this.trialTimer = setTimeout(() => {
      this.trialTimer = undefined;
      if (this.stopped || isHealthyClass(this.status)) return;
      if (this.passive && this.passive.healthy.successes === 0) {
        const was = this.status;
        this.status = 'healthy';
        this.counter.success = this.counter.http_failure = this.counter.tcp_failure = this.counter.timeout_failure = 0;
        this.group.changed(this, was);
        return;
      }
      this.trialOpen = true;
      this.group.bump(this);
    }, this.group.svc.trialDelayMs);
    this.trialTimer.unref();
  }

  claimTrial(): boolean {
    if (!this.trialOpen || this.trialTaken || this.stopped) return false;
    this.trialTaken = true;
    // a trial whose outcome never comes (request refused before it was sent) is given up
    this.trialTimer = setTimeout(() => {
      this.trialTimer = undefined;
      if (!this.trialTaken) return;
      this.trialTaken = false;
      this.group.bump(this);
    }, this.group.svc.trialLeaseMs);
    this.trialTimer.unref();
    this.group.bump(this);
    return true;
  }

  private endTrial(): void {
    this.trialTaken = false;
    if (this.trialTimer) clearTimeout(this.trialTimer);
    this.trialTimer = undefined;
  }

  entry(): HealthReportEntry['nodes'][number] | undefined {
    if (this.ip === undefined) return undefined;
    const node: HealthReportEntry['nodes'][number] = { ip: this.ip, port: this.port, hostname: this.hostname, status: this.status, counter: { ...this.counter } };
    if (this.coolUntil > 0) {
      node.status = 'cooling_down';
      node.cooldown_left_s = Math.max(1, Math.ceil((this.coolUntil - Date.now()) / 1000));
    }
    return node;
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
      const checks = svc.disabled ? undefined : t.checks;
      let active = checks !== undefined && checks.active !== undefined && checks.active !== null;
      if (active && !t.host) {
        svc.log.warn(`health check: instance ${t.name} of ${parentKey} has no endpoint host; not checked`);
        active = false;
      }
      const c = new TargetChecker(this, t, t.index ?? i, normalizeChecks(checks), active, normalizePassive(checks));
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
    this.publish(c);
  }
  /** a cool-down or trial started or ended: the balancer recomputes what it may pick */
  bump(c: TargetChecker): void {
    this.version++;
    this.publish(c);
  }
  private publish(c: TargetChecker): void {
    const key = `healthcheck|${c.name}|${this.confHash}`;
    const value = JSON.stringify({ instance: c.target.name, ip: c.ip, port: c.port, status: c.status, counter: c.counter, cooldown_until: c.coolUntil || undefined });
    this.svc.state.setValue(key, value).catch((err: Error) => {
      this.svc.log.warn(`health check: cannot publish status of ${c.name}: ${err.message}`);
    });
  }
}

const ALWAYS_HEALTHY: HealthHandle = Object.freeze({
  isHealthy: () => true,
  isCooling: () => false,
  coolingUntil: () => 0,
  status: () => undefined,
  trialOpen: () => false,
  claimTrial: () => false,
  observe() {},
  version: 0,
  destroy() {},
});

class Service implements HealthService {
  readonly groups = new Map<string, CheckerGroup>();
  readonly limiter: ProbeLimiter;
  readonly state: SharedState;
  readonly log: Logger;
  readonly disabled: boolean;
  readonly dnsTtlMs: number;
  readonly resolve: (host: string) => Promise<string>;
  readonly trialDelayMs: number;
  readonly trialLeaseMs: number;
  private closed = false;

  constructor(opts: HealthServiceOptions) {
    this.state = opts.state;
    this.log = opts.log;
    this.disabled = opts.disabled;
    this.limiter = new ProbeLimiter(Math.max(1, opts.maxConcurrentProbes ?? 64));
    this.dnsTtlMs = opts.dnsTtlMs ?? 10_000;
    this.resolve = opts.resolve ?? defaultResolve;
    this.trialDelayMs = opts.trialDelayMs ?? 10_000;
    this.trialLeaseMs = opts.trialLeaseMs ?? 60_000;
  }

  register(parentKey: string, confHash: string, targets: HealthTarget[]): HealthHandle {
    if (!targets || targets.length === 0) return ALWAYS_HEALTHY;
    if (this.closed) return ALWAYS_HEALTHY;
    if (this.disabled) {
      // R-HC-15: checks are ignored (cool-downs, R-PHC-2, still apply)
      const checked = targets.filter((t) => t && t.checks);
      if (checked.length) this.log.warn(`disabled upstream healthcheck: checks of ${parentKey} (${checked.map((t) => t.name).join(', ')}) are ignored`);
    }
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
      isCooling(name: string): boolean {
        const c = g.byName.get(name);
        return c !== undefined && c.coolUntil > 0;
      },
      coolingUntil(name: string): number {
        return g.byName.get(name)?.coolUntil ?? 0;
      },
      status(name: string): string | undefined {
        return g.byName.get(name)?.status;
      },
      trialOpen(name: string): boolean {
        const c = g.byName.get(name);
        return c !== undefined && c.trialOpen && !c.trialTaken;
      },
      claimTrial(name: string): boolean {
        const c = g.byName.get(name);
        return c !== undefined && c.claimTrial();
      },
      observe(name: string, kind: PassiveKind, status: number, retryAfter?: number): void {
        const c = g.byName.get(name);
        if (c === undefined) return;
        if (retryAfter !== undefined && retryAfter > 0) c.cool(retryAfter);
        if (c.passive !== undefined || c.trialTaken) c.observe(kind, status);
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
        if (!c.listed) continue;
        const node = c.entry();
        if (!node) continue;
        out.push({ name: c.name, instance: c.target.name, type: c.checkType, nodes: [node] });
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
      for (const g of svc.groups.values()) for (const c of g.checkers) if (c.active) checkers++;
      return { groups: svc.groups.size, checkers, inFlight: svc.limiter.inFlight, waiting: svc.limiter.waiting };
    },
  });
}

// re-exported for tests
export { probe } from './probe.js';
export type { ProbeOutcome } from './probe.js';
