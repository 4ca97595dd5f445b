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

/** The offset in `pool` of the next id's 16 random bytes, drawing the pool anew when spent. */
function take16(): number {
  if (next === pool.length) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const at = next;
  next += 16;
  return at;
}

/**
 * A random version 4 UUID in lower case (RFC 9562: 122 random bits, the version and variant
 * bits set), as `crypto.randomUUID()` gives, but a string of its own.
 * @example
 * ```ts
 * randomUuid(); // "3b241101-e2bb-4255-8caf-4136c566a962"
 * ```
 */
export function randomUuid(): string {
  const at = take16();
  const p = pool;
  const hi = (i: number) => HEX[p[at + i] >> 4];
  const lo = (i: number) => HEX[p[at + i] & 15];
  // One call with the 36 char codes as its arguments (an array of them passed with `apply` cost
  // about twice as much); char 14 is the version (4), char 19 holds the variant bits (10).
  return String.fromCharCode(
    hi(0),
    lo(0),
    hi(1),
    lo(1),
    hi(2),
    lo(2),
    hi(3),
    lo(3),
    45,
    hi(4),
    lo(4),
    hi(5),
    lo(5),
    45,
    52,
    lo(6),
    hi(7),
    lo(7),
    45,
    HEX[(p[at + 8] & 0x3f | 0x80) >> 4],
    lo(8),
    hi(9),
    lo(9),
    45,
    hi(10),
    lo(10),
    hi(11),
    lo(11),
    hi(12),
    lo(12),
    hi(13),
    lo(13),
    hi(14),
    lo(14),
    hi(15),
    lo(15),
  );
}

/**
 * {@linkcode randomUuid} as its 36 char codes (ASCII), one array on the JavaScript heap: where
 * the id is written into heads, its codes are copied as they are instead of reading a string's
 * chars again (a typed array would be a buffer outside the heap per id, which costs more than
 * the copies save). {@linkcode uuidText} makes its string.
 * @example
 * ```ts
 * const codes = randomUuidCodes();
 * uuidText(codes); // "3b241101-e2bb-4255-8caf-4136c566a962"
 * ```
 */
export function randomUuidCodes(): number[] {
  const at = take16();
  const p = pool;
  const hi = (i: number) => HEX[p[at + i] >> 4];
  const lo = (i: number) => HEX[p[at + i] & 15];
  return [
    hi(0),
    lo(0),
    hi(1),
    lo(1),
    hi(2),
    lo(2),
    hi(3),
    lo(3),
    45,
    hi(4),
    lo(4),
    hi(5),
    lo(5),
    45,
    52,
    lo(6),
    hi(7),
    lo(7),
    45,
    HEX[(p[at + 8] & 0x3f | 0x80) >> 4],
    lo(8),
    hi(9),
    lo(9),
    45,
    hi(10),
    lo(10),
    hi(11),
    lo(11),
    hi(12),
    lo(12),
    hi(13),
    lo(13),
    hi(14),
    lo(14),
    hi(15),
    lo(15),
  ];
}

/** The string of a UUID's 36 char codes ({@linkcode randomUuidCodes}). */
export function uuidText(c: readonly number[]): string {
  return String.fromCharCode(
    c[0],
    c[1],
    c[2],
    c[3],
    c[4],
    c[5],
    c[6],
    c[7],
    c[8],
    c[9],
    c[10],
    c[11],
    c[12],
    c[13],
    c[14],
    c[15],
    c[16],
    c[17],
    c[18],
    c[19],
    c[20],
    c[21],
    c[22],
    c[23],
    c[24],
    c[25],
    c[26],
    c[27],
    c[28],
    c[29],
    c[30],
    c[31],
    c[32],
    c[33],
    c[34],
    c[35],
  );
}
