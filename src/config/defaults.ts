// Default values of conf/config.yaml (CONTRACT, SPEC 2.1, R-GEN-19, R-ALOG-3).
import type { ListenAddr } from './types.js';

export const DEFAULT_CONFIG_FILE = 'conf/config.yaml';

export const DEFAULT_NODE_LISTEN: ListenAddr = { ip: '0.0.0.0', port: 9080 };
export const DEFAULT_ADMIN_LISTEN: ListenAddr = { ip: '127.0.0.1', port: 9180 };
export const DEFAULT_CONTROL: ListenAddr = { ip: '127.0.0.1', port: 9090 };
export const DEFAULT_PROMETHEUS_ADDR: ListenAddr = { ip: '127.0.0.1', port: 9091 };
export const DEFAULT_EXPORT_URI = '/apisix/prometheus/metrics';
export const DEFAULT_METRIC_PREFIX = 'apisix_';

export const DEFAULT_DATA_DIR = 'data';
export const DEFAULT_COMPACT_EVERY = 1000;
export const DEFAULT_ACCESS_LOG = 'logs/access.log';
/** R-ALOG-3 */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri" "$apisix_request_id"';

export const DEFAULT_ALLOW_ADMIN = ['127.0.0.0/24'];
export const DEFAULT_ADMIN_KEY_NAME = 'admin';

export const DEFAULT_ETCD_HOST = ['http://127.0.0.1:2379'];
export const DEFAULT_ETCD_PREFIX = '/apisix';
export const DEFAULT_ETCD_TIMEOUT = 30;

/** APISIX's own top-level sections: unknown keys below them only warn */
export const APISIX_SECTIONS = ['apisix', 'nginx_config', 'graphql', 'plugins', 'stream_plugins', 'plugin_attr', 'deployment'];
