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
  /** the instance's `checks` object, validated with defaults applied (missing defaults are applied again here) */
  checks: Record<string, unknown>;
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

export interface HealthHandle {
  /** false when the checker currently reports the instance unhealthy; true otherwise */
  isHealthy(name: string): boolean;
  /**
   * monotonically increasing whenever any instance moves between the healthy
   * class (healthy, mostly_healthy) and the unhealthy class (unhealthy,
   * mostly_unhealthy) (resets balancer state, R-BAL-4, R-HC-10)
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
  type: 'http' | 'https' | 'tcp';
  nodes: Array<{
    ip: string;
    port: number;
    hostname: string;
    status: 'healthy' | 'mostly_healthy' | 'unhealthy' | 'mostly_unhealthy';
    counter: { success: number; http_failure: number; tcp_failure: number; timeout_failure: number };
  }>;
}
