// The one catalogue of variables (R-VAR-1, R-VAR-3): the names the access
// log, logger `log_format`s, route `vars` and config validation know. The
// values come from the request context's getter table (VAR_GETTERS in
// src/proxy/context.ts, one getter per name here; test/proxy/vars.test.ts
// checks that the two lists are the same). An unknown name in
// `access_log_format` renders `-` (R-ALOG-6) and is warned about at start-up
// and by `validate`.

/** R-VAR-1: the LLM variables, with the value used when `getVar` has none */
export const LLM_VAR_DEFAULTS: Readonly<Record<string, string>> = {
  request_type: 'traditional_http',
  request_llm_model: '',
  llm_model: '',
  llm_time_to_first_token: '0',
  llm_prompt_tokens: '0',
  llm_completion_tokens: '0',
  llm_content_risk_level: '',
  // R-RTY-4
  llm_attempts: '',
  // R-STR-2
  llm_stream_error: '',
};

const NAMES = [
  // R-VAR-1
  ...Object.keys(LLM_VAR_DEFAULTS),
  'apisix_upstream_response_time',
  // R-USG-2, R-USG-3 (APISIX 3.18), R-USG-4
  'llm_usage_source', 'llm_total_tokens', 'llm_stream', 'llm_has_tool_calls', 'llm_tool_count', 'llm_end_user_id',
  'llm_cache_read_input_tokens', 'llm_cache_creation_input_tokens', 'llm_reasoning_tokens', 'llm_cost',
  // R-VAR-3
  'remote_addr', 'remote_port', 'remote_user', 'server_addr', 'server_port', 'scheme', 'host',
  'hostname', 'uri', 'request_uri', 'args', 'query_string', 'is_args', 'request_method', 'request',
  'server_protocol', 'status', 'body_bytes_sent', 'bytes_sent', 'request_length', 'request_time',
  'time_local', 'time_iso8601', 'msec', 'request_id', 'apisix_request_id', 'upstream_addr',
  'upstream_status', 'upstream_response_time', 'upstream_scheme', 'upstream_host', 'upstream_uri',
  'route_id', 'route_name', 'service_id', 'service_name', 'consumer_name', 'consumer_group_id',
  'balancer_ip', 'balancer_port', 'rate_limiting_info',
  // further nginx / APISIX variables the context serves
  'matched_uri', 'matched_host', 'document_uri', 'content_type', 'content_length', 'pid', 'https',
  'server_name', 'realip_remote_addr', 'realip_remote_port', 'request_body',
];

export const KNOWN_VARIABLES: ReadonlySet<string> = new Set(NAMES);

/** prefixes of variable families (a header, cookie, argument, response header) */
export const VARIABLE_PREFIXES = ['http_', 'cookie_', 'arg_', 'sent_http_'] as const;

/** names accepted as aliases: `$request_line` is the seed's spelling of `$request` (R-ALOG-6, D14) */
export const VARIABLE_ALIASES: Readonly<Record<string, string>> = { request_line: 'request' };

export function canonicalVariable(name: string): string {
  return VARIABLE_ALIASES[name] ?? name;
}

export function isKnownVariable(name: string): boolean {
  const n = canonicalVariable(name);
  if (KNOWN_VARIABLES.has(n)) return true;
  for (const p of VARIABLE_PREFIXES) if (n.length > p.length && n.startsWith(p)) return true;
  return false;
}

/** variable names referenced by an nginx-style format (R-ALOG-4), in order of appearance */
export function logFormatVariables(format: string): string[] {
  const out: string[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
  for (let m = re.exec(format); m; m = re.exec(format)) out.push(m[1] ?? m[2]!);
  return out;
}

/** the names of a format that are not variables (R-ALOG-6), each once */
export function unknownLogVariables(format: string): string[] {
  return [...new Set(logFormatVariables(format).filter((n) => !isKnownVariable(n)))];
}

/** R-RTY-4: `$llm_attempts`, `name:outcome:ms` joined by `,` */
export function formatAttempts(list: readonly { instance: string; outcome: string; ms: number }[]): string {
  let s = '';
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    s += (i === 0 ? '' : ',') + a.instance + ':' + a.outcome + ':' + a.ms;
  }
  return s;
}
