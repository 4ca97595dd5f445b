/**
 * Server-Sent Events wire format (WHATWG HTML, "Server-sent events"): an encoder that refuses
 * what a stream cannot carry, and an incremental parser with the standard's rules (a leading
 * BOM dropped, `\n`, `\r\n` or `\r` line ends, `:` comments, a field without a colon, multi-line
 * `data`, events without data not dispatched, `id` with NUL ignored, `retry` digits only) and a
 * bound on the text one event may buffer.
 *
 * Not the npm `eventsource-parser`: it buffers a line or an event without a bound, so a hostile
 * stream could grow memory without end.
 * @module
 */

const encoder = new TextEncoder();
const LINE_BREAK = /\r\n|\r|\n/;

/** One parsed SSE event. */
export interface SseEvent {
  /** The event type: `message` when the event had no `event:` field. */
  event: string;
  data: string;
  /** The stream's last event id when the event was dispatched (EventSource's `lastEventId`). */
  id?: string;
}

/** What {@linkcode encodeEvent} writes. */
export interface SseFrame {
  /** Event type; one line. */
  event?: string;
  /** Event id; one line, no NUL (the parser would ignore it). */
  id?: string;
  /** Payload; may span lines (each becomes a `data:` line). */
  data: string;
}

function oneLine(value: string, field: string): string {
  if (LINE_BREAK.test(value)) throw new SyntaxError(`SSE ${field} cannot contain a line break`);
  return value;
}

/**
 * The text of one event frame.
 *
 * @throws {SyntaxError} when `event` or `id` contains CR or LF, or `id` contains NUL: the frame
 * would say something else than asked (a newline starts a new field)
 * @example
 * ```ts
 * eventText({ id: "e-1", event: "message", data: "a\nb" });
 * // "id: e-1\nevent: message\ndata: a\ndata: b\n\n"
 * ```
 */
export function eventText(frame: SseFrame): string {
  let out = "";
  if (frame.id !== undefined) {
    if (frame.id.includes("\0")) throw new SyntaxError("SSE id cannot contain NUL");
    out += `id: ${oneLine(frame.id, "id")}\n`;
  }
  if (frame.event !== undefined) out += `event: ${oneLine(frame.event, "event")}\n`;
  for (const line of frame.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return out + "\n";
}

/**
 * One event frame as bytes (see {@linkcode eventText}).
 *
 * @throws {SyntaxError} when `event` or `id` contains a line break, or `id` a NUL
 * @example
 * ```ts
 * controller.enqueue(encodeEvent({ event: "reset", data: "{}" }));
 * ```
 */
export function encodeEvent(frame: SseFrame): Uint8Array {
  return encoder.encode(eventText(frame));
}

/**
 * A comment frame (heartbeats): each line of `text` becomes a `:` line.
 * @example
 * ```ts
 * encodeComment("heartbeat"); // ": heartbeat\n\n"
 * ```
 */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(text.split(LINE_BREAK).map((l) => `: ${l}\n`).join("") + "\n");
}

/**
 * A `retry:` hint, in whole milliseconds (a negative or fractional value is rounded into range).
 * @example
 * ```ts
 * encodeRetry(2000); // "retry: 2000\n\n"
 * ```
 */
export function encodeRetry(ms: number): Uint8Array {
  return encoder.encode(`retry: ${Math.max(0, Math.round(ms))}\n\n`);
}

/** Default bound on the text one event (its pending line and data) may buffer. */
export const DEFAULT_MAX_EVENT_CHARS = 16 * 1024 * 1024;

/**
 * Incremental parser: feed decoded text chunks, receive whole events. An event whose pending
 * line and data outgrow the bound is dropped (up to its blank line), not buffered further.
 *
 * @example
 * ```ts
 * const p = new SseParser((e) => console.log(e.event, e.data, e.id));
 * p.push("id: 7\ndata: hi\n\n"); // logs: message hi 7
 * ```
 */
export class SseParser {
  #buf = "";
  #data = "";
  #hasData = false;
  #event = "";
  #idBuffer = "";
  #sawCr = false;
  #atStart = true;
  #dropping = false;
  /** True while the rest of a line dropped as too long is still coming. */
  #skipLine = false;
  /** Last `retry:` value seen, in ms. */
  retryMs: number | undefined;
  /** The last event id (persists across events, as in EventSource); "" when none. */
  lastEventId = "";

  /**
   * @param onEvent called with each dispatched event
   * @param maxEventChars bound on one event's pending line and data, in UTF-16 code units
   */
  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly maxEventChars = DEFAULT_MAX_EVENT_CHARS,
  ) {}

  /**
   * Feeds one chunk of decoded text. Only the chunk is scanned for line ends: the pending line
   * holds none, so a line that arrives in many chunks costs its length once, not once per chunk.
   */
  push(chunk: string): void {
    let i = 0;
    if (this.#atStart && chunk.length > 0) {
      this.#atStart = false;
      if (chunk.charCodeAt(0) === 0xfeff) i = 1;
    }
    if (this.#sawCr) {
      this.#sawCr = false;
      if (chunk.charCodeAt(i) === 10) i++;
    }
    let start = i;
    for (; i < chunk.length; i++) {
      const ch = chunk.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      if (this.#skipLine) this.#skipLine = false; // the end of a line dropped as too long
      else {
        const piece = chunk.slice(start, i);
        const line = this.#buf === "" ? piece : this.#buf + piece;
        this.#buf = "";
        this.#line(line);
      }
      if (ch === 13) {
        if (i + 1 < chunk.length) {
          if (chunk.charCodeAt(i + 1) === 10) i++;
        } else this.#sawCr = true;
      }
      start = i + 1;
    }
    if (start >= chunk.length || this.#skipLine) return;
    const rest = chunk.slice(start);
    if (this.#dropping || this.#buf.length + rest.length + this.#data.length > this.maxEventChars) {
      // The line is not kept: its rest, up to its end, is skipped (it is no line of its own).
      this.#drop();
      this.#buf = "";
      this.#skipLine = true;
    } else this.#buf += rest;
  }

  /** Forgets the event under way; lines are skipped until its blank line. */
  #drop(): void {
    this.#dropping = true;
    this.#data = "";
    this.#hasData = false;
    this.#event = "";
  }

  #line(line: string): void {
    if (line === "") return this.#dispatch();
    if (this.#dropping || line.charCodeAt(0) === 58) return; // ":" comment (heartbeat)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        if (this.#data.length > this.maxEventChars) this.#drop();
        break;
      case "event":
        this.#event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.#idBuffer = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
  }

  #dispatch(): void {
    this.lastEventId = this.#idBuffer;
    const dropped = this.#dropping;
    this.#dropping = false;
    if (dropped || !this.#hasData) {
      this.#data = "";
      this.#hasData = false;
      this.#event = "";
      return;
    }
    const e: SseEvent = { event: this.#event || "message", data: this.#data };
    if (this.lastEventId !== "") e.id = this.lastEventId;
    this.#data = "";
    this.#hasData = false;
    this.#event = "";
    this.onEvent(e);
  }
}
