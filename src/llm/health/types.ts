// Active health checks of ai-proxy-multi instances (R-HC-*). The runtime
// compiler gives ai-proxy-multi a HealthService; the plugin registers its
// instances that have `checks` once per configuration and asks, per request,
// which of them are unhealthy (R-BAL-3).

export interface HealthTarget {
  /** instance name */
  name: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** the instance's `checks` object, validated with defaults applied */
  checks: Record<string, unknown>;
}

export interface HealthHandle {
  /** false when the checker currently reports the instance unhealthy; true otherwise */
  isHealthy(name: string): boolean;
  /** monotonically increasing whenever any instance's status changes (resets balancer state, R-BAL-4) */
  readonly version: number;
  /** stop probing (configuration removed or replaced) */
  destroy(): void;
}

export interface HealthService {
  /**
   * Start (or reuse) checkers for these targets. `parentKey` + `confHash`
   * identify the configuration (R-HC); the same pair returns the same
   * checkers.
   */
  register(parentKey: string, confHash: string, targets: HealthTarget[]): HealthHandle;
  /** what GET /v1/healthcheck reports (R-CTL) */
  report(): unknown[];
  close(): void;
}
