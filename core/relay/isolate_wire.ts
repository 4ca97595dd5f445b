/**
 * The relay's hot messages between its isolates (`--workers`) as one string each: the main
 * isolate's `events` batches and a worker's `publish` calls. A message port copies a string in
 * one piece, where objects cost V8's structured clone field by field (about three times the
 * time for a batch of 16 events). Only the main isolate of the same process writes what is read
 * here, so a string that does not decode is a fault of the relay, not bad input: it throws.
 *
 * Layout: a number is its decimal text and `,`; a string is its length in UTF-16 code units,
 * `:` and the string itself, so any character (the separators included) is carried as it is; a
 * publisher is `-` when absent (an anonymous publish), else a string (empty included).
 *
 * A decoded string is a slice of the message: while a worker caches an event's data, the batch
 * it came in stays in memory with it. A batch of several events holds at most
 * `max_payload_bytes` of them (see broadcast.ts; a larger event goes alone), so an event cached
 * alone holds at most that much more.
 * @module
 */
import type { TailedEvent } from "./js_wire.ts";
import type { StoredEvent } from "./store.ts";
import type { IsolatePublish } from "./isolate_store.ts";

const COLON = 58, DASH = 45;

function str(s: string): string {
  return s.length + ":" + s;
}

function optional(s: string | undefined): string {
  return s === undefined ? "-" : s.length + ":" + s;
}

/** Encodes a batch of events (each with its topic's previous sequence and its store time). */
export function encodeEvents(batch: readonly TailedEvent[]): string {
  let out = "";
  for (const t of batch) {
    const e = t.event;
    out += e.seq + "," + e.tsMs + "," + t.prev + "," + t.storedMs + "," + str(e.topic) +
      str(e.data) + optional(e.publisher);
  }
  return out;
}

/** Encodes a worker's publish. */
export function encodePublish(p: IsolatePublish): string {
  return str(p.topic) + str(p.eventId) + str(p.json) + optional(p.publisher) +
    optional(p.digest);
}

/** A cursor over one message. */
class Reader {
  i = 0;
  constructor(readonly s: string) {}

  get done(): boolean {
    return this.i >= this.s.length;
  }

  #bad(what: string): never {
    throw new Error(`a relay isolate message does not decode: ${what} at ${this.i}`);
  }

  number(): number {
    const end = this.s.indexOf(",", this.i);
    if (end <= this.i) this.#bad("number");
    const n = Number(this.s.slice(this.i, end));
    this.i = end + 1;
    return n;
  }

  string(): string {
    const s = this.s;
    let i = this.i, n = 0, c = s.charCodeAt(i);
    if (c === COLON) this.#bad("length");
    for (; c !== COLON; c = s.charCodeAt(++i)) {
      const d = c - 48;
      if (!(d >= 0 && d <= 9)) this.#bad("length");
      n = n * 10 + d;
    }
    const end = i + 1 + n;
    if (end > s.length) this.#bad("string");
    this.i = end;
    return s.slice(i + 1, end);
  }

  optional(): string | undefined {
    if (this.s.charCodeAt(this.i) !== DASH) return this.string();
    this.i++;
    return undefined;
  }
}

/**
 * Decodes {@linkcode encodeEvents}' string.
 * @throws {Error} when it is not one
 */
export function decodeEvents(s: string): TailedEvent[] {
  const r = new Reader(s);
  const out: TailedEvent[] = [];
  while (!r.done) {
    const seq = r.number(), tsMs = r.number(), prev = r.number(), storedMs = r.number();
    const topic = r.string(), data = r.string(), publisher = r.optional();
    const event: StoredEvent = publisher === undefined
      ? { seq, topic, tsMs, data }
      : { seq, topic, tsMs, data, publisher };
    out.push({ event, prev, storedMs });
  }
  return out;
}

/**
 * Decodes {@linkcode encodePublish}' string.
 * @throws {Error} when it is not one
 */
export function decodePublish(s: string): IsolatePublish {
  const r = new Reader(s);
  const topic = r.string(), eventId = r.string(), json = r.string(), publisher = r.optional();
  const digest = r.optional();
  if (!r.done) throw new Error("a relay isolate message does not decode: trailing text");
  const p: IsolatePublish = { topic, eventId, json };
  if (publisher !== undefined) p.publisher = publisher;
  if (digest !== undefined) p.digest = digest;
  return p;
}
