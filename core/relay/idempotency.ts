/**
 * `Idempotency-Key` on `POST /publish`: a publish carrying the header gets an event id derived
 * from its publisher (the principal the relay authenticated, none on an open relay) and the key,
 * so a retry of it gets the same id on any replica or isolate; {@linkcode IdempotencyKeys}
 * remembers the keyed publishes stored lately (at most `max_idempotency_keys`, for at most
 * `duplicate_window`), so a retry is answered as the first was instead of being stored again.
 * @module
 */
import { sha256Js } from "../crypto/mod.ts";

/** The request header naming a publish's idempotency key. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** The response header of an answer replayed for a publish already stored. */
export const REPLAYED_HEADER = "Idempotent-Replayed";
/** Default bound on the keyed publishes remembered. */
export const DEFAULT_MAX_IDEMPOTENCY_KEYS = 100_000;
/** What a valid key is: 1 to 128 visible ASCII characters. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** True for a valid idempotency key. */
export function isIdempotencyKey(key: string): boolean {
  return IDEMPOTENCY_KEY_PATTERN.test(key);
}

const UTF8 = new TextEncoder();
/** Each byte's two lower-case hex digits. */
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * The event id of a keyed publish: a version 8 UUID (RFC 9562) made of the SHA-256 of the
 * publisher and the key, in lower case.
 * @example
 * ```ts
 * keyedEventId("ops", "k1"); // "xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx", the same each call
 * ```
 */
export function keyedEventId(publisher: string | undefined, key: string): string {
  const who = publisher === undefined ? "" : `p:${publisher}`;
  const b = sha256Js(UTF8.encode(`${who}\n${key}`));
  const h = HEX_BYTE;
  return h[b[0]] + h[b[1]] + h[b[2]] + h[b[3]] + "-" + h[b[4]] + h[b[5]] + "-" +
    h[(b[6] & 0x0f) | 0x80] + h[b[7]] + "-" + h[(b[8] & 0x3f) | 0x80] + h[b[9]] + "-" +
    h[b[10]] + h[b[11]] + h[b[12]] + h[b[13]] + h[b[14]] + h[b[15]];
}

/**
 * The digest of a publish's topic and payload, to tell a retry from another event: two 32-bit
 * multiplicative hashes of every UTF-16 unit and the lengths. It only tells one publisher's own
 * events sent with one key apart (the key is the publisher's, and the event id already names the
 * publisher), so it need not resist forgery; it is about 4 times as fast as SHA-256 in
 * JavaScript, and it runs on every keyed publish, before its answer.
 */
export function publishDigest(topic: string, json: string): string {
  let h1 = 0xdeadbeef ^ json.length, h2 = 0x41c6ce57 ^ topic.length;
  for (const s of [topic, json]) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ 0x0a, 2654435761); // the separator between topic and payload
    h2 = Math.imul(h2 ^ 0x0a, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `${json.length}:${(h1 >>> 0).toString(16)}${(h2 >>> 0).toString(16)}`;
}

/** The answer to a keyed publish that was stored. */
export interface Stored {
  seq: number;
  /** True when the event was stored before (this publish stored nothing). */
  replayed: boolean;
}

/** Thrown for a key used before for another topic or payload (answered 422). */
export class IdempotencyConflictError extends Error {
  override name = "IdempotencyConflictError";
  constructor() {
    super(`the ${IDEMPOTENCY_HEADER} was used for another event`);
  }
}

interface Entry {
  seq: number;
  atMs: number;
  digest: string;
}

/**
 * The keyed publishes stored lately, by event id (at most `max`, the oldest forgotten first;
 * none older than `windowMs`), and the ones being stored: a publish of an id being stored waits
 * for that one and shares its answer.
 */
export class IdempotencyKeys {
  readonly #done = new Map<string, Entry>();
  /** The entries in the order they were remembered, from `#head` on (a stale one is skipped). */
  #order: Array<{ id: string; entry: Entry }> = [];
  #head = 0;
  readonly #inFlight = new Map<string, { digest: string; stored: Promise<Stored> }>();
  #epoch: string | undefined;

  constructor(readonly max: number, readonly windowMs: number) {}

  /** Keyed publishes remembered. */
  get size(): number {
    return this.#done.size;
  }

  /**
   * Stores a keyed publish once: `store` runs unless the id was stored within the window (then
   * its sequence is answered, `replayed`) or is being stored (then that answer is shared).
   * @throws {IdempotencyConflictError} when the id was stored with another digest, or is being
   * stored with another digest and that store succeeds; what `store` throws
   */
  run(
    eventId: string,
    digest: string,
    nowMs: number,
    store: () => Stored | Promise<Stored>,
  ): Stored | Promise<Stored> {
    const seen = this.#done.get(eventId);
    if (seen !== undefined) {
      if (nowMs - seen.atMs > this.windowMs) this.#done.delete(eventId);
      else if (seen.digest !== digest) throw new IdempotencyConflictError();
      else return { seq: seen.seq, replayed: true };
    }
    const pending = this.#inFlight.get(eventId);
    if (pending !== undefined) {
      if (pending.digest === digest) {
        return pending.stored.then((s) => ({ seq: s.seq, replayed: true }));
      }
      // Another event of this id is being stored through a store that decides elsewhere (the
      // main isolate, the engine), which may refuse it for a third it stored first: its outcome
      // decides. Stored: this one is another event. Refused or failed: this one is asked anew.
      return pending.stored.then(
        () => {
          throw new IdempotencyConflictError();
        },
        () => this.run(eventId, digest, Date.now(), store),
      );
    }
    const out = store();
    if (!(out instanceof Promise)) {
      this.#remember(eventId, out.seq, nowMs, digest);
      return out;
    }
    const stored = out.then((s) => {
      this.#remember(eventId, s.seq, Date.now(), digest);
      return s;
    }).finally(() => this.#inFlight.delete(eventId));
    this.#inFlight.set(eventId, { digest, stored });
    return stored;
  }

  /**
   * Remembers keyed publishes a durable store held before this relay started (oldest first), so
   * a retry after a restart is answered as the first was.
   */
  seed(events: Iterable<{ eventId: string; seq: number; atMs: number; digest: string }>): void {
    for (const e of events) this.#remember(e.eventId, e.seq, e.atMs, e.digest);
  }

  #remember(eventId: string, seq: number, atMs: number, digest: string): void {
    if (this.max <= 0) return;
    const entry = { seq, atMs, digest };
    this.#done.set(eventId, entry);
    this.#order.push({ id: eventId, entry });
    // Oldest first: past the bound or the window. A Map iterated from its start walks the holes
    // its deletions left, so the order is kept apart, as a queue read from its head.
    const order = this.#order;
    while (this.#head < order.length) {
      const oldest = order[this.#head];
      const live = this.#done.get(oldest.id) === oldest.entry;
      const keep = this.#done.size <= this.max && atMs - oldest.entry.atMs <= this.windowMs &&
        order.length - this.#head <= 2 * this.max;
      if (live && keep) break;
      if (live) this.#done.delete(oldest.id);
      this.#head++;
    }
    if (this.#head >= 1024 && this.#head * 2 >= order.length) {
      this.#order = order.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Forgets every publish remembered (the store's history was replaced). */
  clear(): void {
    this.#done.clear();
    this.#order = [];
    this.#head = 0;
  }

  /**
   * Forgets every publish remembered when `epoch`, the store's now, is not the one they were
   * stored under (a stream created again: their sequences name other events, or none).
   */
  follow(epoch: string): void {
    if (epoch === this.#epoch) return;
    if (this.#epoch !== undefined) this.clear();
    this.#epoch = epoch;
  }
}
