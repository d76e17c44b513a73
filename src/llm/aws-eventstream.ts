// The AWS event-stream framing of Bedrock's converse-stream answers
// (R-BDR-1): binary messages (total length, headers length, prelude CRC,
// headers, payload, message CRC). This module only cuts the byte stream into
// whole messages; @smithy/core's EventStreamCodec decodes and checks each.
// Events reach the relay as SSE-like (event, data) pairs: the event is the
// `:event-type` header (`:exception-type` for exceptions), the data is the
// JSON payload.
import { createRequire } from 'node:module';
import type { EventStreamCodec } from '@smithy/core/event-streams';
import type { SseEvent } from './sse.js';

export const AWS_EVENTSTREAM_TYPE = 'application/vnd.amazon.eventstream';

/** the largest message AWS sends (16 MiB) plus its framing */
const MAX_MESSAGE = 16 * 1024 * 1024 + 1024;
/** prelude (12) + message CRC (4) */
const MIN_MESSAGE = 16;

const toUtf8 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const fromUtf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
/*
 * The codec module costs a worker ~15 MB and a few hundred ms: it is loaded
 * when a configuration with a Bedrock instance compiles (preload), and
 * synchronously by the first stream only if that load has not finished yet.
 */
let codec: EventStreamCodec | undefined;
let loading: Promise<void> | undefined;

export function preloadAwsEventStream(): void {
  loading ??= import('@smithy/core/event-streams').then(
    (m) => { codec ??= new m.EventStreamCodec(toUtf8, fromUtf8); },
    () => { loading = undefined; },
  );
}

function getCodec(): EventStreamCodec {
  if (codec === undefined) {
    const m = createRequire(import.meta.url)('@smithy/core/event-streams') as typeof import('@smithy/core/event-streams');
    codec = new m.EventStreamCodec(toUtf8, fromUtf8);
  }
  return codec;
}

export function isAwsEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.includes(AWS_EVENTSTREAM_TYPE);
}

/** an event-stream message whose framing or checksums are wrong: nothing after it is read */
export class EventStreamFramingError extends Error {}

/** cuts pushed bytes into messages; calls onEvent for each (push/end/canSkip as SseParser) */
export class AwsEventStreamParser {
  /*
   * The chunks of the incomplete message at the end of what was pushed,
   * joined once the prelude's length says they hold it all: one copy per
   * message, however small the chunks.
   */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** the length of the message being collected; 0 while its length field is incomplete */
  private need = 0;
  private broken = false;

  constructor(private readonly onEvent: (e: SseEvent) => void, private readonly onBroken?: (err: Error) => void) {}

  /** binary frames cannot be skipped by a text search */
  canSkip(_chunk?: Buffer, _needle?: Buffer): boolean {
    return false;
  }

  push(chunk: Buffer | string): void {
    if (this.broken) return;
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.partsLen > 0) {
      this.parts.push(buf);
      this.partsLen += buf.length;
      if (this.partsLen < (this.need > 0 ? this.need : 4)) return;
      buf = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
      this.need = 0;
    }
    let at = 0;
    while (buf.length - at >= 4) {
      const total = buf.readUInt32BE(at);
      if (total < MIN_MESSAGE || total > MAX_MESSAGE) return this.fail(new EventStreamFramingError(`invalid event-stream message length ${total}`));
      if (buf.length - at < total) {
        this.need = total;
        break;
      }
      let msg;
      try {
        msg = getCodec().decode(buf.subarray(at, at + total));
      } catch (e) {
        return this.fail(new EventStreamFramingError(`invalid event-stream message: ${(e as Error).message}`));
      }
      at += total;
      const h = msg.headers;
      const kind = h[':message-type']?.value;
      const name = kind === 'exception' || kind === 'error' ? h[':exception-type']?.value ?? h[':error-code']?.value ?? 'exception' : h[':event-type']?.value;
      if (typeof name === 'string') this.onEvent({ event: name, data: toUtf8(msg.body) });
    }
    if (at < buf.length) {
      this.parts.push(at === 0 ? buf : buf.subarray(at));
      this.partsLen = buf.length - at;
    }
  }

  end(): void {
    if (this.partsLen > 0 && !this.broken) this.fail(new EventStreamFramingError('the event stream ended inside a message'));
    this.reset();
  }

  private fail(err: Error): void {
    this.broken = true;
    this.reset();
    this.onBroken?.(err);
  }

  private reset(): void {
    this.parts = [];
    this.partsLen = 0;
    this.need = 0;
  }
}
