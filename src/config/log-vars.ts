// The variables an access_log_format may reference (spec 8.1, R-VAR-1/3),
// used to warn about unknown names at start-up and in `validate` (R-ALOG-6).
const NAMES = new Set([
  // R-VAR-1
  'request_type', 'request_llm_model', 'llm_model', 'llm_time_to_first_token',
  'llm_prompt_tokens', 'llm_completion_tokens', 'apisix_upstream_response_time',
  'llm_content_risk_level',
  // R-VAR-3
  'remote_addr', 'remote_port', 'remote_user', 'server_addr', 'server_port', 'scheme',
  'host', 'hostname', 'uri', 'request_uri', 'args', 'query_string', 'is_args',
  'request_method', 'request', 'request_line', 'server_protocol', 'status',
  'body_bytes_sent', 'bytes_sent', 'request_length', 'request_time', 'time_local',
  'time_iso8601', 'msec', 'request_id', 'apisix_request_id', 'upstream_addr',
  'upstream_status', 'upstream_response_time', 'upstream_scheme', 'upstream_host',
  'upstream_uri', 'route_id', 'route_name', 'service_id', 'service_name',
  'consumer_name', 'consumer_group_id', 'balancer_ip', 'balancer_port',
  'rate_limiting_info',
]);
const PREFIXES = ['http_', 'cookie_', 'arg_', 'sent_http_'];

export function isKnownLogVariable(name: string): boolean {
  return NAMES.has(name) || PREFIXES.some((p) => name.startsWith(p) && name.length > p.length);
}

/** variable names referenced by an nginx-style format (R-ALOG-4), in order of appearance */
export function logFormatVariables(format: string): string[] {
  const out: string[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
  for (let m = re.exec(format); m; m = re.exec(format)) out.push(m[1] ?? m[2]!);
  return out;
}

export function unknownLogVariables(format: string): string[] {
  return [...new Set(logFormatVariables(format).filter((n) => !isKnownLogVariable(n)))];
}
