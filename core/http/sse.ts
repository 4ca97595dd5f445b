/**
 * Server-Sent Events wire format: encoding frames (relay, dashboard) and an incremental parser
 * (relay client, tests). Follows the WHATWG event-stream rules: `\n`, `\r\n` or `\r` line ends,
 * `:` comments, multi-line `data:`, `id:` without NUL, `retry:` digits only.
 * @module
 */

const encoder = new TextEncoder();

/** One parsed SSE event. */
export interface SseEvent {
  /** `message` when the frame had no `event:` line. */
  event: string;
  data: string;
  /** The frame's `id:` value, when it had one. */
  id?: string;
}

/** Encodes one event frame. `data` may span lines; `id`/`event` must be single-line. */
export function encodeEvent(frame: { event?: string; id?: string; data: string }): Uint8Array {
  return encoder.encode(eventText(frame));
}

/** The text of one event frame (see {@linkcode encodeEvent}). */
function eventText(frame: { event?: string; id?: string; data: string }): string {
  let out = "";
  if (frame.id !== undefined) out += `id: ${oneLine(frame.id)}\n`;
  if (frame.event !== undefined) out += `event: ${oneLine(frame.event)}\n`;
  for (const line of frame.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + "\n";
}

/** Encodes a comment frame (heartbeats). */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${oneLine(text)}\n\n`);
}

/** Encodes a `retry:` hint in milliseconds. */
export function encodeRetry(ms: number): Uint8Array {
  return encoder.encode(`retry: ${Math.max(0, Math.round(ms))}\n\n`);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\0]/g, " ");
}

/** Default bound on one event's buffered text; a longer frame is dropped as malformed. */
const DEFAULT_MAX_EVENT_CHARS = 16 * 1024 * 1024;

/** Incremental parser: feed decoded text chunks, receive whole events. */
export class SseParser {
  #buf = "";
  #data: string[] = [];
  #dataChars = 0;
  #event = "";
  #id: string | undefined;
  #sawCr = false;
  /** Last `retry:` value seen, in ms. */
  retryMs: number | undefined;
  /** The last event id (persists across events, as in EventSource). */
  lastEventId: string | undefined;

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly maxEventChars = DEFAULT_MAX_EVENT_CHARS,
  ) {}

  /** Feeds one chunk of decoded text. */
  push(chunk: string): void {
    let text = this.#buf + chunk;
    this.#buf = "";
    if (this.#sawCr && text.startsWith("\n")) text = text.slice(1);
    this.#sawCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      this.#line(text.slice(start, i));
      if (ch === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else this.#sawCr = true;
      }
      start = i + 1;
    }
    this.#buf = text.slice(start);
    if (this.#buf.length + this.#dataChars > this.maxEventChars) this.#discard();
  }

  #discard(): void {
    this.#buf = "";
    this.#data = [];
    this.#dataChars = 0;
    this.#event = "";
  }

  #line(line: string): void {
    if (line === "") return this.#dispatch();
    if (line.charCodeAt(0) === 58) return; // ":" comment (heartbeat)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data.push(value);
        this.#dataChars += value.length;
        if (this.#dataChars > this.maxEventChars) this.#discard();
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
  }

  #dispatch(): void {
    if (this.#id !== undefined) this.lastEventId = this.#id;
    const id = this.#id;
    this.#id = undefined;
    if (this.#data.length === 0 && this.#event === "") return;
    const e: SseEvent = { event: this.#event || "message", data: this.#data.join("\n") };
    if (id !== undefined) e.id = id;
    this.#data = [];
    this.#dataChars = 0;
    this.#event = "";
    this.onEvent(e);
  }
}
