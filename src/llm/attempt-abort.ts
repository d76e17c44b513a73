// Why switchyard itself ended an upstream attempt (R-STR-1, R-STR-3,
// R-CAP-2, R-CAP-3), and the R-STR-2 code of any failure that cuts a stream
// short. The abort reason travels through undici's controller to the
// response sink's error(), so the relay learns the cause from the error
// object rather than from state shared with the timers.
import { errors as undiciErrors } from '../transport/undici.js';
import type { StreamErrorCode } from './protocols/types.js';

export type AbortCause = 'ttft_timeout' | 'upstream_timeout' | 'stream_too_long' | 'response_too_large';

export class AttemptAbort extends Error {
  constructor(readonly kind: AbortCause, message: string) {
    super(message);
    this.name = 'AttemptAbort';
  }
}

/** R-STR-2: the code of the final error event for a stream that failed with `err` */
export function streamErrorCode(err: unknown): StreamErrorCode {
  if (err instanceof AttemptAbort) return err.kind === 'ttft_timeout' ? 'upstream_timeout' : err.kind;
  const e = err as { code?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (
    err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.HeadersTimeoutError ||
    code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT'
  ) return 'upstream_timeout';
  // llhttp rejects broken chunked framing with HPE_* codes
  if (code.startsWith('HPE_') || (err as Error)?.name === 'HTTPParserError') return 'malformed_stream';
  return 'upstream_closed';
}

const REASONS: Record<StreamErrorCode, string> = {
  upstream_closed: 'the upstream closed the connection before the answer was complete',
  upstream_timeout: 'the upstream stopped sending before the answer was complete',
  stream_too_long: 'the answer exceeded max_stream_duration_ms',
  response_too_large: 'the answer exceeded max_response_bytes',
  malformed_stream: 'the upstream sent a malformed stream',
};

/** the `message` of the final error event */
export function streamErrorReason(code: StreamErrorCode, err: unknown): string {
  return err instanceof AttemptAbort ? err.message : REASONS[code];
}
