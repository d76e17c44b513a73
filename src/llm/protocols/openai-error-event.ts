// R-STR-2: the error event OpenAI's streaming APIs send (the openai SDK
// raises an APIError when a data line carries an `error` member).
import type { StreamErrorCode } from './types.js';

export function openaiStreamErrorEvent(code: StreamErrorCode, message: string): string {
  return `data: ${JSON.stringify({ error: { message, type: 'upstream_error', code } })}\n\n`;
}
