/**
 * The flight recorder's payload arena: one byte buffer holding the payloads of the records in the
 * ring, written and freed in record order (first in, first out), so a payload costs the request
 * no object of its own and nothing the garbage collector copies or marks.
 * @module
 */

/** Bytes the arena starts with (it doubles as needed, up to its bound). */
const INITIAL_BYTES = 64 * 1024;

const utf8 = new TextEncoder();

/**
 * `bytes` cut to at most `max` bytes without splitting a UTF-8 sequence.
 *
 * @example
 * ```ts
 * utf8Prefix(new TextEncoder().encode("aé"), 2); // the bytes of "a"
 * ```
 */
export function utf8Prefix(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off the continuation bytes (10xxxxxx) of a sequence the cut would split.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/**
 * Payloads of up to `perRecord` bytes for up to `records` records, by slot. A payload's position
 * is logical (it only grows); its bytes are at that position modulo the buffer's size, never
 * wrapped (a payload that would wrap starts at the buffer's beginning instead). The buffer grows
 * by doubling while the live payloads need more, up to `(records + 1) * perRecord` bytes: the
 * other records' payloads, the gap a wrap leaves and the new payload always fit in that without
 * moving anything, so a full-sized buffer is never copied again.
 */
export class PayloadArena {
  /** Largest payload kept per record (longer ones are cut at a UTF-8 boundary). */
  readonly perRecord: number;
  readonly maxBytes: number;
  #buf: Uint8Array;
  /** Logical position after the newest payload, and of the oldest live one. */
  #head = 0;
  #tail = 0;
  /** A slot's payload: logical start and length (-1: none). */
  readonly #start: Float64Array;
  readonly #len: Int32Array;

  constructor(records: number, perRecord: number) {
    this.perRecord = Math.max(0, Math.floor(perRecord));
    this.maxBytes = (records + 1) * this.perRecord;
    this.#buf = new Uint8Array(Math.min(INITIAL_BYTES, this.maxBytes));
    this.#start = new Float64Array(records);
    this.#len = new Int32Array(records).fill(-1);
  }

  /** Bytes the buffer holds now (live payloads, gaps and free room). */
  get bufferBytes(): number {
    return this.#buf.length;
  }

  /** Times the live payloads were moved to a larger buffer. */
  get moves(): number {
    return this.#moves;
  }

  #moves = 0;

  /** Copies `src` (bytes, or text stored as UTF-8) in as the payload of `slot`. */
  put(slot: number, src: Uint8Array | string): void {
    if (typeof src !== "string") {
      const bytes = utf8Prefix(src, this.perRecord);
      const at = this.#reserve(bytes.length);
      if (at < 0) return;
      this.#buf.set(bytes, at);
      this.#keep(slot, bytes.length);
      return;
    }
    // At most 3 bytes per UTF-16 unit; the unused part of the reservation is given back.
    const at = this.#reserve(Math.min(this.perRecord, src.length * 3));
    if (at < 0) return;
    const n = utf8.encodeInto(src, this.#buf.subarray(at, at + this.#headRoom)).written;
    this.#keep(slot, n);
  }

  /** The payload of `slot` (a view, valid until the arena is next written), or undefined. */
  view(slot: number): Uint8Array | undefined {
    const n = this.#len[slot];
    if (n < 0) return undefined;
    const at = this.#start[slot] % Math.max(1, this.#buf.length);
    return this.#buf.subarray(at, at + n);
  }

  /** Frees the payload of `slot`, the oldest one in the arena (records leave in order). */
  free(slot: number): void {
    const n = this.#len[slot];
    if (n < 0) return;
    this.#tail = this.#start[slot] + n;
    this.#len[slot] = -1;
  }

  /** Room reserved by the last #reserve call. */
  #headRoom = 0;

  /**
   * The buffer offset of `n` free bytes at the head (the head is not moved yet); -1 only if the
   * bound were too small for them, which the bound's size rules out (the slot then keeps no
   * payload).
   */
  #reserve(n: number): number {
    this.#headRoom = n;
    if (n === 0) return 0;
    let at = this.#fit(n);
    if (at < 0) {
      this.#grow(n);
      at = this.#fit(n);
      if (at < 0) this.#headRoom = 0;
    }
    return at;
  }

  /** Where `n` bytes go at the head without growing (skipping a wrap), or -1. */
  #fit(n: number): number {
    const size = this.#buf.length;
    let head = this.#head;
    const at = head % size;
    if (at + n > size) head += size - at;
    if (head + n - this.#tail > size) return -1;
    this.#head = head;
    return head % size;
  }

  /** Records the `n` bytes written at the head as the payload of `slot`. */
  #keep(slot: number, n: number): void {
    this.#start[slot] = this.#head;
    this.#len[slot] = n;
    this.#head += n;
  }

  /**
   * Moves the live payloads to the start of a larger buffer (at most `maxBytes`, where `n` always
   * fits without a move).
   */
  #grow(n: number): void {
    const old = this.#buf;
    const live = this.#head - this.#tail;
    const size = Math.min(this.maxBytes, Math.max(old.length * 2, live + n));
    const buf = new Uint8Array(size);
    if (live > 0) {
      const from = this.#tail % old.length;
      const first = Math.min(live, old.length - from);
      buf.set(old.subarray(from, from + first), 0);
      if (live > first) buf.set(old.subarray(0, live - first), first);
    }
    const shift = this.#tail;
    for (let s = 0; s < this.#len.length; s++) {
      if (this.#len[s] >= 0) this.#start[s] -= shift;
    }
    this.#buf = buf;
    this.#moves++;
    this.#head = live;
    this.#tail = 0;
  }
}
