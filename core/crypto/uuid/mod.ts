/**
 * Random (version 4) UUIDs, each a string of its own.
 *
 * Deno's `crypto.randomUUID()` makes 128 ids at a time as one 4.6 KB string and hands out slices
 * of it, and a slice keeps the whole string alive. Where ids outlive their request (the flight
 * recorder's index keeps the last trace ids, a relay's store the ids of the events it keeps),
 * every id kept can hold 4.6 KB, long enough for V8 to copy those strings into its old
 * generation, which then fills until a full collection (in the sidecar under load, about 60 bytes
 * per request; with ids of their own, 1.4). These ids come
 * from the same kind of source (`crypto.getRandomValues`, drawn 256 ids at a time) and are each
 * made as one flat string of 36 characters.
 * @module
 */

/** Ids whose random bytes are drawn from the system at once. */
const IDS_PER_DRAW = 256;
const pool = new Uint8Array(16 * IDS_PER_DRAW);
let next = pool.length;
/** Character codes of the 16 hex digits. */
const HEX = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** The id's character codes, written in place. */
const codes: number[] = new Array(36).fill(0);

/**
 * A random version 4 UUID in lower case (RFC 9562: 122 random bits, the version and variant
 * bits set), as `crypto.randomUUID()` gives, but a string of its own.
 * @example
 * ```ts
 * randomUuid(); // "3b241101-e2bb-4255-8caf-4136c566a962"
 * ```
 */
export function randomUuid(): string {
  if (next === pool.length) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const at = next;
  next += 16;
  let k = 0;
  for (let i = 0; i < 16; i++) {
    let b = pool[at + i];
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10
    if (i === 4 || i === 6 || i === 8 || i === 10) codes[k++] = 45; // "-"
    codes[k++] = HEX[b >> 4];
    codes[k++] = HEX[b & 15];
  }
  return String.fromCharCode.apply(null, codes);
}
