// R-ERR-1: the error shapes of the client protocols, for errors the gateway
// itself answers (auth, limits, validation, upstream failures). The type and
// code names are the ones the providers' own APIs use for the same status.

const OPENAI: Record<number, [type: string, code: string]> = {
  400: ['invalid_request_error', 'invalid_request'],
  401: ['invalid_request_error', 'invalid_api_key'],
  403: ['permission_error', 'forbidden'],
  404: ['invalid_request_error', 'not_found'],
  413: ['invalid_request_error', 'request_too_large'],
  429: ['rate_limit_error', 'rate_limit_exceeded'],
  502: ['server_error', 'bad_gateway'],
  503: ['server_error', 'service_unavailable'],
  504: ['server_error', 'timeout'],
};

const ANTHROPIC: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

/** OpenAI (chat, responses, embeddings): `{"error_msg", "error": {message, type, code}}` */
export function openaiErrorBody(status: number, message: string): Record<string, unknown> {
  const [type, code] = OPENAI[status] ?? (status >= 500 ? ['server_error', 'internal_error'] : ['invalid_request_error', String(status)]);
  return { error_msg: message, error: { message, type, code } };
}

/** Anthropic Messages: `{"error_msg", "type": "error", "error": {type, message}}` */
export function anthropicErrorBody(status: number, message: string): Record<string, unknown> {
  const type = ANTHROPIC[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return { error_msg: message, type: 'error', error: { type, message } };
}
