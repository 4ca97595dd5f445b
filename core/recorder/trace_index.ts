/**
 * The flight recorder's trace index: which slot holds each trace's newest record, and each slot's
 * trace id, in typed arrays (an open-addressing hash table over slot numbers, the ids' bytes in a
 * byte column), so recording keeps no string and no map entry per request on the heap.
 * @module
 */

/** No slot. */
export const NONE = -1;
/** Longest trace id kept as bytes (the trace id rule's bound); longer or non-ASCII ids are kept as strings. */
const ID_BYTES = 128;
/** A slot's id is in the string column. */
const AS_TEXT = 255;
/** A slot holds no id. */
const FREE = 0;
/**
 * The newest records whose trace id string is also kept as given (a power of two): a trace's
 * next record, made while its request is still under way, is checked against the same string
 * in one comparison instead of a walk over the bytes.
 */
const RECENT = 256;

/**
 * Trace id -> newest slot, for `slots` slots. The table has at least twice as many cells as
 * slots (at most half full); a collision probes the next cell, so a lookup reads at most as many
 * cells as there are traces in the ring. The hash is seeded per process.
 */
export class TraceIndex {
  /** Cell -> slot, or NONE. */
  readonly #table: Int32Array;
  readonly #mask: number;
  readonly #seed = crypto.getRandomValues(new Int32Array(1))[0];
  /** Per slot: the id's hash, byte length (FREE, 1-128, AS_TEXT), bytes, or string. */
  readonly #hash: Int32Array;
  readonly #len: Uint8Array;
  readonly #bytes: Uint8Array;
  readonly #text: Array<string | undefined>;
  /** The last `find`'s hash and cell (where `put` writes). */
  #h = 0;
  #cell = 0;
  /** The slot the last `findFor` copied its id into (NONE: none), and that id's length column. */
  #staged = NONE;
  #stagedLen = FREE;
  /** Slot % RECENT -> the id given to `put` for that slot, and the slot (NONE: none). */
  readonly #recent: Array<string | undefined> = new Array(RECENT);
  readonly #recentSlot = new Int32Array(RECENT).fill(NONE);

  constructor(slots: number) {
    let cells = 2;
    while (cells < 2 * slots) cells *= 2;
    this.#table = new Int32Array(cells).fill(NONE);
    this.#mask = cells - 1;
    this.#hash = new Int32Array(slots);
    this.#len = new Uint8Array(slots);
    this.#bytes = new Uint8Array(slots * ID_BYTES);
    this.#text = new Array(slots);
  }

  /** The newest slot of trace `id`, or NONE; the next `put` records `id` there. */
  find(id: string): number {
    let h = this.#seed;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    this.#staged = NONE;
    return this.#lookup(id, h);
  }

  /**
   * {@linkcode find}, copying `id` into the free `slot` while it hashes it, so that the
   * `put(slot, id)` after it copies nothing (one pass over the id instead of two).
   */
  findFor(slot: number, id: string): number {
    const n = id.length;
    let h = this.#seed;
    if (n > ID_BYTES) {
      for (let i = 0; i < n; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
      this.#staged = NONE;
      return this.#lookup(id, h);
    }
    const bytes = this.#bytes;
    const base = slot * ID_BYTES;
    let all = 0;
    for (let i = 0; i < n; i++) {
      const c = id.charCodeAt(i);
      h = Math.imul(h ^ c, 0x01000193);
      bytes[base + i] = c;
      all |= c;
    }
    this.#staged = slot;
    this.#stagedLen = all < 0x80 && n > 0 ? n : AS_TEXT;
    return this.#lookup(id, h);
  }

  /** The newest slot of the id hashed to `h`, or NONE; remembers where `put` writes. */
  #lookup(id: string, h: number): number {
    this.#h = h;
    const table = this.#table;
    for (let cell = h & this.#mask;; cell = (cell + 1) & this.#mask) {
      const s = table[cell];
      if (s === NONE || (this.#hash[s] === h && this.#holdsId(s, id))) {
        this.#cell = cell;
        return s;
      }
    }
  }

  /** Makes free `slot` the newest of trace `id` (the id of the `find` just before). */
  put(slot: number, id: string): void {
    this.#table[this.#cell] = slot;
    this.#hash[slot] = this.#h;
    this.#recent[slot & (RECENT - 1)] = id;
    this.#recentSlot[slot & (RECENT - 1)] = slot;
    if (this.#staged === slot) {
      // findFor copied the id already.
      this.#staged = NONE;
      const len = this.#len[slot] = this.#stagedLen;
      if (len === AS_TEXT) this.#text[slot] = id;
      return;
    }
    const n = id.length;
    let ascii = n <= ID_BYTES;
    const base = slot * ID_BYTES;
    for (let i = 0; i < n && ascii; i++) {
      const c = id.charCodeAt(i);
      this.#bytes[base + i] = c;
      ascii = c < 0x80;
    }
    if (ascii && n > 0) this.#len[slot] = n;
    else {
      this.#len[slot] = AS_TEXT;
      this.#text[slot] = id;
    }
  }

  /**
   * Makes free `slot` the newest of the trace whose newest slot is `prev` (which stays in the
   * ring), without hashing its id again: `prev`'s cell points to `slot` now, and `slot` holds a
   * copy of `prev`'s id.
   */
  putAfter(slot: number, prev: number): void {
    const table = this.#table;
    const mask = this.#mask;
    const h = this.#hash[prev];
    let cell = h & mask;
    while (table[cell] !== prev) cell = (cell + 1) & mask;
    table[cell] = slot;
    this.#hash[slot] = h;
    const n = this.#len[prev];
    this.#len[slot] = n;
    if (n === AS_TEXT) this.#text[slot] = this.#text[prev];
    else this.#bytes.copyWithin(slot * ID_BYTES, prev * ID_BYTES, prev * ID_BYTES + n);
  }

  /** Whether `slot` holds a record of trace `id`. */
  holdsId(slot: number, id: string): boolean {
    if (this.#len[slot] === FREE) return false;
    const k = slot & (RECENT - 1);
    if (this.#recentSlot[k] === slot && this.#recent[k] === id) return true;
    return this.#holdsId(slot, id);
  }

  /** Whether `slot` holds a record. */
  holds(slot: number): boolean {
    return this.#len[slot] !== FREE;
  }

  /** The trace id of `slot` ("" when free). */
  idOf(slot: number): string {
    const n = this.#len[slot];
    if (n === AS_TEXT) return this.#text[slot] ?? "";
    const base = slot * ID_BYTES;
    return String.fromCharCode(...this.#bytes.subarray(base, base + n));
  }

  /** Frees `slot`; `last`: it was its trace's only record (the trace leaves the index). */
  release(slot: number, last: boolean): void {
    if (last) this.#unlink(slot);
    this.#len[slot] = FREE;
    this.#text[slot] = undefined;
    const k = slot & (RECENT - 1);
    if (this.#recentSlot[k] === slot) {
      this.#recentSlot[k] = NONE;
      this.#recent[k] = undefined;
    }
  }

  #holdsId(slot: number, id: string): boolean {
    const n = this.#len[slot];
    if (n === AS_TEXT) return this.#text[slot] === id;
    if (n !== id.length) return false;
    const base = slot * ID_BYTES;
    for (let i = 0; i < n; i++) if (this.#bytes[base + i] !== id.charCodeAt(i)) return false;
    return true;
  }

  /** Removes the cell of `slot` and moves later cells of its probe run back (no tombstones). */
  #unlink(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let hole = this.#hash[slot] & mask;
    while (table[hole] !== slot) hole = (hole + 1) & mask;
    table[hole] = NONE;
    for (let cell = (hole + 1) & mask; table[cell] !== NONE; cell = (cell + 1) & mask) {
      const home = this.#hash[table[cell]] & mask;
      // The entry may fill the hole unless its home lies cyclically in (hole, cell].
      const stays = hole <= cell ? hole < home && home <= cell : hole < home || home <= cell;
      if (stays) continue;
      table[hole] = table[cell];
      table[cell] = NONE;
      hole = cell;
    }
  }
}
