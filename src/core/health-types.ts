// Active health checks of ai-proxy-multi instances (R-HC-*). The runtime
// compiler gives ai-proxy-multi a HealthService; the plugin registers its
// instances that have `checks` once per configuration and asks, per request,
// which of them are unhealthy (R-BAL-3).

export interface HealthTarget {
  /** instance name */
  name: string;
  /** the instance endpoint's scheme (R-REQ-6); the probe type is `checks.active.type` */
  scheme: 'http' | 'https';
  /**
   * the instance endpoint's host (R-HC-3): `override.endpoint` host, else the
   * provider's default host; a name (resolved by the health service) or an IP
   */
  host: string;
  /** the endpoint's port (443/80 by scheme when the URL has none); `checks.active.port` wins over it */
  port: number;
  /**
   * the instance's `checks` object, validated with defaults applied (missing
   * defaults are applied again here); absent for an instance without checks,
   * registered so that its Retry-After cool-downs are kept (R-PHC-2)
   */
  checks?: Record<string, unknown>;
  /**
   * 0-based position of the instance in `instances` (R-CTL-2 names the
   * checker `<parentKey>#plugins['<plugin>'].instances[<index>]`); defaults
   * to the position in the `targets` array
   */
  index?: number;
  /** plugin name used in the checker name; default `ai-proxy-multi` */
  plugin?: string;
  /**
   * the instance's `auth` (R-HC-4): each `header` member is sent with the
   * probe as `Name: value`, `query` members are appended to `http_path`
   */
  auth?: { header?: Record<string, string>; query?: Record<string, string> };
}

/**
 * what real traffic saw from an instance (R-PHC-1): `status` is the answer's
 * HTTP status (classified by `checks.passive`); `tcp_failure` and `timeout`
 * are transport failures; `ignored` counts nothing (the client went away)
 */
export type PassiveKind = 'status' | 'tcp_failure' | 'timeout' | 'ignored';

export interface HealthHandle {
  /**
   * false when the checker currently reports the instance unhealthy; true
   * otherwise (also while a passive-only instance is open for a trial request,
   * R-PHC-1)
   */
  isHealthy(name: string): boolean;
  /** true while a Retry-After cool-down of the instance runs (R-PHC-2) */
  isCooling(name: string): boolean;
  /** epoch ms the cool-down ends, 0 when none (workers share it, R-PHC-3) */
  coolingUntil?(name: string): number;
  /** the checker status (`healthy`, `mostly_healthy`, ...), undefined when the instance is not registered */
  status?(name: string): string | undefined;
  /** the instance is unhealthy but open for one trial request (R-PHC-1) */
  trialOpen(name: string): boolean;
  /** takes the open trial (true once per trial) so that no other request is sent to it */
  claimTrial(name: string): boolean;
  /**
   * one answer (or transport failure) of the instance: passive health
   * (R-PHC-1) and, for 429/503 with Retry-After, a cool-down of
   * `retryAfterMs` (R-PHC-2); `status` is 0 when there was no answer
   */
  observe(name: string, kind: PassiveKind, status: number, retryAfterMs?: number): void;
  /**
   * monotonically increasing whenever any instance moves between the healthy
   * class (healthy, mostly_healthy) and the unhealthy class (unhealthy,
   * mostly_unhealthy), or a cool-down or trial starts or ends (the balancer
   * recomputes what it may pick, R-BAL-4, R-HC-10)
   */
  readonly version: number;
  /** stop probing (configuration removed or replaced); idempotent */
  destroy(): void;
}

export interface HealthService {
  /**
   * Start (or reuse) checkers for these targets. `parentKey` + `confHash`
   * identify the configuration (R-HC); the same pair returns the same
   * checkers (reference counted: each handle must be destroyed once).
   */
  register(parentKey: string, confHash: string, targets: HealthTarget[]): HealthHandle;
  /** what GET /v1/healthcheck reports (R-CTL): one HealthReportEntry per running checker */
  report(): unknown[];
  close(): void;
}

/** one entry of GET /v1/healthcheck (R-CTL-2) */
export interface HealthReportEntry {
  name: string;
  instance: string;
  /** the active check's type, else the passive one's */
  type: 'http' | 'https' | 'tcp';
  nodes: Array<{
    ip: string;
    port: number;
    hostname: string;
    status: 'healthy' | 'mostly_healthy' | 'unhealthy' | 'mostly_unhealthy' | 'cooling_down';
    /** R-PHC-2: seconds left of a Retry-After cool-down (only while `status` is `cooling_down`) */
    cooldown_left_s?: number;
    counter: { success: number; http_failure: number; tcp_failure: number; timeout_failure: number };
  }>;
}
