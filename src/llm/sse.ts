// Server-Sent Events parser used alongside the byte-faithful relay
// (R-RSP-11). Hand-written rather than eventsource-parser because we need
// the 1 MiB cap on an incomplete trailing event (eventsource-parser buffers
// without bound), `\r\n\r\n` event ends, and a fast path that skips events we
// do not need to decode; relaying never depends on it.
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
  retry?: string;
}

export const MAX_PENDING = 1024 * 1024;

export class SseParser {
  private buf = '';
  private readonly dec = new StringDecoder('utf8');
  /** nothing is pending: no partial event, no partial UTF-8 character */
  private idle = true;
  /** an event grew past MAX_PENDING and was cut: its rest, up to its end, is dropped */
  private discarding = false;
  /** buf before this index holds no event end (so a long event is scanned once, not once per chunk) */
  private scanned = 0;
  /** the last 3 characters of buf (where an event end may have begun) */
  private tail = '';

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  /**
   * True when pushing `chunk` could not produce an event containing
   * `needle` other than as a JSON member whose value is `null` (OpenAI sends
   * `"usage":null` in every chunk of a stream that asked for usage): the
   * parser has nothing pending, the chunk holds whole events only (it ends
   * with a blank line) and no such occurrence is in it. The caller may then
   * skip push() for it: decoding and splitting events that nobody reads was
   * most of a relayed stream's parsing cost.
   */
  canSkip(chunk: Buffer, needle: Buffer): boolean {
    if (!this.idle) return false;
    const n = chunk.length;
    if (n < 2 || chunk[n - 1] !== 0x0a) return false;
    const p = chunk[n - 2];
    if (p !== 0x0a && !(p === 0x0d && n >= 3 && chunk[n - 3] === 0x0a)) return false;
    for (let at = chunk.indexOf(needle); at >= 0;) {
      const after = nullEnd(chunk, at + needle.length);
      if (after < 0) return false;
      // the usual chunk has one event, its `"usage":null` near the end: no second search
      if (n - after < needle.length) break;
      at = chunk.indexOf(needle, after);
    }
    return true;
  }

  push(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.dec.write(chunk);
    if (this.buf !== '' && findEventEnd(this.tail + text, 0) === undefined) {
      // the pending event goes on: append without scanning (or flattening)
      // what is pending, so a long event costs linear time
      this.tail = text.length >= 3 ? text.slice(-3) : (this.tail + text).slice(-3);
      if (this.discarding) this.buf = this.tail;
      else if ((this.buf += text).length > MAX_PENDING) {
        this.buf = this.tail;
        this.discarding = true;
      }
      this.scanned = this.buf.length > 3 ? this.buf.length - 3 : 0;
      this.idle = false;
      return;
    }
    this.buf += text;
    const last = typeof chunk === 'string' ? chunk.charCodeAt(chunk.length - 1) : chunk[chunk.length - 1];
    let start = 0;
    let from = this.scanned;
    for (;;) {
      const end = findEventEnd(this.buf, from);
      if (end === undefined) break;
      if (this.discarding) this.discarding = false;
      else this.parseEvent(this.buf.slice(start, end.at));
      start = from = end.next;
    }
    this.buf = start === 0 ? this.buf : this.buf.slice(start);
    if (this.buf.length > MAX_PENDING) {
      // keep what may be the start of the event's end (\r\n\r)
      this.buf = this.buf.slice(-3);
      this.discarding = true;
    }
    // an event end is at most 4 characters: it may start in the last 3
    this.scanned = this.buf.length > 3 ? this.buf.length - 3 : 0;
    this.tail = this.buf.length > 3 ? this.buf.slice(-3) : this.buf;
    // a chunk ending in a newline leaves no partial UTF-8 character behind
    this.idle = this.buf === '' && last === 0x0a && !this.discarding;
  }

  /** end of input: a final event without a blank line is dropped (as browsers do) */
  end(): void {
    this.buf = '';
    this.idle = true;
    this.discarding = false;
    this.scanned = 0;
    this.tail = '';
  }

  private parseEvent(block: string): void {
    let event = 'message';
    let data: string | undefined;
    let id: string | undefined;
    let retry: string | undefined;
    let pos = 0;
    while (pos <= block.length) {
      let nl = block.indexOf('\n', pos);
      if (nl < 0) nl = block.length;
      let line = block.slice(pos, nl);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      pos = nl + 1;
      if (line === '' || line.charCodeAt(0) === 58 /* ':' comment */) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      switch (field) {
        case 'event': event = value; break;
        case 'data': data = data === undefined ? value : data + '\n' + value; break;
        case 'id': id = value; break;
        case 'retry': retry = value; break;
      }
    }
    if (data === undefined && event === 'message') return;
    this.onEvent({ event, data: data ?? '', id, retry });
  }
}

/** the bytes at `i` are `: null` (JSON, blanks allowed) */
export function followedByNull(b: Buffer, i: number): boolean {
  return nullEnd(b, i) >= 0;
}

/** the index just past `: null` (JSON, blanks allowed) at `i`, or -1 */
function nullEnd(b: Buffer, i: number): number {
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x09)) i++;
  if (b[i] !== 0x3a /* : */) return -1;
  i++;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x09)) i++;
  return b[i] === 0x6e && b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c ? i + 4 : -1;
}

function findEventEnd(s: string, from: number): { at: number; next: number } | undefined {
  const a = s.indexOf('\n\n', from);
  const b = s.indexOf('\r\n\r\n', from);
  const c = s.indexOf('\n\r\n', from);
  let best: { at: number; next: number } | undefined;
  if (a >= 0) best = { at: a, next: a + 2 };
  // the block keeps the CR of its last line's CRLF (parseEvent drops it), so
  // a CR that is content before it is not dropped as well
  if (b >= 0 && (!best || b < best.at)) best = { at: b + 1, next: b + 4 };
  if (c >= 0 && (!best || c < best.at)) best = { at: c, next: c + 3 };
  return best;
}
