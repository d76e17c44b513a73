// A converter between a client protocol and the protocol a provider speaks
// (R-REQ-3), registered by its (from, to) pair in converters/index.ts.
import type { Reply } from '../../core/types.js';
import type { Protocol } from '../protocols/types.js';

export type Converted = { ok: true; body: any } | { ok: false; reply: Reply };

/** converts one streamed answer, event by event */
export interface StreamConverter {
  /** one upstream SSE event's data (and its event name); the bytes to send to the client (maybe "") */
  push(data: string, event?: string): string;
  /** end of the upstream stream: the last bytes, or a Reply when nothing was produced */
  end(): string | Reply;
}

export interface Converter {
  /** the client protocol */
  readonly from: Protocol;
  /** the protocol sent upstream */
  readonly to: Protocol;
  /** client body -> upstream body (the input is not modified) */
  request(body: any): Converted;
  /** upstream 2xx JSON answer -> client answer */
  response(body: any, model: string): Converted;
  /** streamed answers; absent: streams are relayed unchanged */
  stream?(model: string): StreamConverter;
  /** the Content-Type of a converted stream */
  streamContentType?: string;
  /** the usage of a converted answer is read from the converted body with the client protocol's rules */
  usageFromClientBody: boolean;
}
