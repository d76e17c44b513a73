// R-USG-1: switchyard asks OpenAI-chat upstreams for
// `stream_options.include_usage` so every stream carries its usage; a client
// that did not ask for it must not see the usage-only chunk (`"choices": []`
// with `usage`): code reading `choices[0]` breaks on it.
//
// The stripper sits between the upstream chunks and the client writes. Its
// fast path (the chunk ends at an event boundary and has no `"usage":{`) is
// two byte searches and hands the chunk on unchanged; only a chunk that holds
// a usage object has its events parsed. A chunk that ends inside an event
// keeps that partial event back until the rest arrives, so an event split
// across reads is still recognised (the client cannot use half an event).

/** did the client ask for the usage chunk itself (`stream_options.include_usage: true`) */
export function clientAskedUsage(body: Record<string, unknown>): boolean {
  const so = body.stream_options;
  return so !== null && typeof so === 'object' && (so as Record<string, unknown>).include_usage === true;
}

const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const USAGE = Buffer.from('"usage"');

/** the end of the last complete event in `b` (0 when none) */
function lastBoundary(b: Buffer): number {
  // the common case: the chunk ends exactly at a boundary
  const n = b.length;
  if (n >= 2 && b[n - 1] === 0x0a && (b[n - 2] === 0x0a || (n >= 4 && b[n - 2] === 0x0d && b[n - 3] === 0x0a && b[n - 4] === 0x0d))) return n;
  const a = b.lastIndexOf(LF2);
  const c = b.lastIndexOf(CRLF2);
  const ea = a < 0 ? 0 : a + 2;
  const ec = c < 0 ? 0 : c + 4;
  return ea > ec ? ea : ec;
}

/** does `b` hold `"usage"` followed (after blanks and the colon) by an object */
function hasUsageObject(b: Buffer): boolean {
  for (let i = b.indexOf(USAGE); i >= 0; i = b.indexOf(USAGE, i + USAGE.length)) {
    let j = i + USAGE.length;
    while (j < b.length && (b[j] === 0x20 || b[j] === 0x09)) j++;
    if (b[j] !== 0x3a /* : */) continue;
    j++;
    while (j < b.length && (b[j] === 0x20 || b[j] === 0x09)) j++;
    if (b[j] === 0x7b /* { */) return true;
  }
  return false;
}

/** is this one SSE event (text without its boundary) a usage-only chunk */
function isUsageOnlyEvent(ev: string): boolean {
  let data = '';
  for (const line of ev.split(/\r?\n/)) {
    if (line.startsWith('data:')) data += line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
  }
  if (data === '' || data.indexOf('"usage"') < 0) return false;
  try {
    const j = JSON.parse(data) as { choices?: unknown; usage?: unknown };
    return Array.isArray(j.choices) && j.choices.length === 0 && j.usage !== null && typeof j.usage === 'object';
  } catch {
    return false;
  }
}

export class UsageChunkStripper {
  private pending: Buffer | undefined = undefined;
  /** a usage-only chunk was removed */
  stripped = false;

  /** what to write to the client for this upstream chunk (undefined: nothing yet) */
  push(chunk: Buffer): Buffer | undefined {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const end = lastBoundary(buf);
    if (end === 0) {
      this.pending = buf;
      return undefined;
    }
    this.pending = end < buf.length ? buf.subarray(end) : undefined;
    const head = end < buf.length ? buf.subarray(0, end) : buf;
    if (!hasUsageObject(head)) return head;
    return this.filter(head);
  }

  /** the rest at the end of the stream (an unterminated last event is relayed as it came) */
  end(): Buffer | undefined {
    const p = this.pending;
    this.pending = undefined;
    if (p === undefined) return undefined;
    if (hasUsageObject(p) && isUsageOnlyEvent(p.toString('utf8'))) {
      this.stripped = true;
      return undefined;
    }
    return p;
  }

  private filter(head: Buffer): Buffer | undefined {
    const text = head.toString('utf8');
    const parts = text.split(/(\r?\n\r?\n)/);
    let out = '';
    let changed = false;
    // parts: event, separator, event, separator, …, '' (the text ends at a boundary)
    for (let i = 0; i < parts.length; i += 2) {
      const ev = parts[i]!;
      const sep = parts[i + 1] ?? '';
      if (ev !== '' && isUsageOnlyEvent(ev)) {
        changed = true;
        continue;
      }
      out += ev + sep;
    }
    if (!changed) return head;
    this.stripped = true;
    return out === '' ? undefined : Buffer.from(out);
  }
}
