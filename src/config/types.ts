// The validated, defaulted conf/config.yaml (CONTRACT, R-GEN-19).
export interface ListenAddr {
  ip: string;
  port: number;
}

export interface AdminKey {
  name: string;
  key: string;
  role: 'admin' | 'viewer';
}

export interface GatewayConfig {
  /** absolute path of the file this came from */
  file: string;
  apisix: {
    node_listen: ListenAddr[];
    enable_admin: boolean;
    enable_control: boolean;
    control: ListenAddr;
    disable_upstream_healthcheck: boolean;
    /**
     * R-SEC-10: plugins' `encrypt_fields` encrypted in the store. Absent in
     * programmatic configs = off. An empty keyring (none configured) is
     * filled from <data_dir>/keyring.json at start (config/keyring.ts).
     */
    data_encryption?: {
      enable_encrypt_fields: boolean;
      /** 16-byte (AES-128-CBC) or 32-byte (AES-256-CBC) keys; the first encrypts */
      keyring: string[];
    };
    /** MiB; 0 = no cap (R-RTE-20) */
    max_post_args_readable_size?: number;
  };
  deployment: {
    /** R-SA-1: `data_plane` reads the configuration from `standalone_file`, with no Admin API */
    role: 'traditional' | 'data_plane';
    config_provider: 'local' | 'etcd' | 'yaml';
    /** R-SA-1: absolute path of conf/apisix.yaml (beside config.yaml), with config_provider yaml */
    standalone_file?: string;
    data_dir: string; // absolute
    /** journal records between two snapshot folds of the local store */
    compact_every?: number;
    admin: {
      admin_listen: ListenAddr;
      admin_key: AdminKey[];
      admin_key_required: boolean;
      allow_admin: string[];
    };
    etcd: {
      host: string[];
      prefix: string;
      timeout: number; // seconds
      user?: string;
      password?: string;
    };
  };
  nginx_config: {
    /** proxy workers (R-WRK-1): `auto` (one per CPU) is resolved to a number at load time; absent = 1 (programmatic configs) */
    worker_processes?: number;
    http: {
      enable_access_log: boolean;
      /** absolute path, or "stdout" */
      access_log: string;
      access_log_format: string;
      access_log_format_escape: 'default' | 'json';
    };
  };
  plugin_attr: {
    prometheus: {
      export_uri: string;
      export_addr: ListenAddr;
      metric_prefix: string;
      default_buckets?: number[];
      llm_latency_buckets?: number[];
      enable_export_server: boolean;
    };
  };
}
