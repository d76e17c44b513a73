// STUB (owner: converters helper): anthropic-messages <-> openai-chat (R-REQ-20..22).
import type { Reply } from '../../core/types.js';

export type Converted = { ok: true; body: any } | { ok: false; reply: Reply };

/** R-REQ-20: client anthropic body -> openai-chat body (the input is not modified) */
export function anthropicRequestToOpenai(body: any): Converted {
  return { ok: true, body };
}

/** R-REQ-21: openai non-stream response body -> anthropic message body */
export function openaiResponseToAnthropic(body: any, model: string): Converted {
  void model;
  return { ok: true, body };
}

/** R-REQ-22: converts an openai-chat SSE stream into anthropic events */
export class OpenaiToAnthropicStream {
  constructor(readonly model: string) {}
  /** feed one parsed SSE event's data; returns the bytes to send to the client (maybe "") */
  push(data: string): string {
    return data;
  }
  /** end of the upstream stream; returns the final bytes, or a Reply (502) when nothing was produced */
  end(): string | Reply {
    return '';
  }
}
