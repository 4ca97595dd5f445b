/**
 * The chunked transfer coding of response bodies (RFC 9112 7.1), with one framing per shared
 * chunk: a chunk written to many connections (one SSE frame fanned out to every subscriber) is
 * framed and copied once, not once per connection.
 * @module
 */

const ascii = new TextEncoder();
const CRLF = ascii.encode("\r\n");
/** The last chunk with an empty trailer section. */
export const LAST_CHUNK: Uint8Array = ascii.encode("0\r\n\r\n");

/**
 * Chunks registered as shared (never changed once made), with their chunked framing once made.
 * Weak, so an entry lives no longer than its chunk.
 */
const sharedChunks = new WeakMap<Uint8Array, Uint8Array | null>();

/**
 * Registers `chunk` as shared by many streamed responses: the caller promises never to change
 * its bytes, and the connections writing it then share one chunked framing of it.
 * @example
 * ```ts
 * const frame = shareChunk(new TextEncoder().encode("data: hi\n\n"));
 * ```
 */
export function shareChunk(chunk: Uint8Array): Uint8Array {
  if (!sharedChunks.has(chunk)) sharedChunks.set(chunk, null);
  return chunk;
}

/**
 * A chunk in the chunked coding: size line, data, CRLF (made once for a shared chunk).
 * @example
 * ```ts
 * chunkFrame(new TextEncoder().encode("hi")); // bytes of "2\r\nhi\r\n"
 * ```
 */
export function chunkFrame(chunk: Uint8Array): Uint8Array {
  const known = sharedChunks.get(chunk);
  if (known) return known;
  const size = ascii.encode(chunk.length.toString(16) + "\r\n");
  const out = new Uint8Array(size.length + chunk.length + 2);
  out.set(size);
  out.set(chunk, size.length);
  out.set(CRLF, size.length + chunk.length);
  if (known === null) sharedChunks.set(chunk, out);
  return out;
}
