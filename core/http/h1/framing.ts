/**
 * The chunked transfer coding of response bodies (RFC 9112 7.1), with one framing per shared
 * chunk: a chunk written to many connections (one SSE frame fanned out to every subscriber) is
 * framed and copied once, not once per connection.
 * @module
 */

import { concatBytes } from "./bytes.ts";

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
 * The chunk each {@linkcode framedChunk} framing is made around: held as long as its framing is,
 * since a connection that frames it (HTTP/1.1) holds only the framing while it writes, and those
 * who share the chunk find it by the chunk itself.
 */
const framedViews = new WeakMap<Uint8Array, Uint8Array>();

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
 * A shared chunk of `bytes` bytes (see {@linkcode shareChunk}) made inside its own chunked
 * framing: the caller fills it before handing it to any connection, and both the connections
 * that frame it (HTTP/1.1) and those that do not write it with no copy.
 * @example
 * ```ts
 * const chunk = framedChunk(2);
 * chunk.set([104, 105]); // "hi"
 * chunkFrame(chunk); // "2\r\nhi\r\n", the buffer chunk is a view of
 * ```
 */
export function framedChunk(bytes: number): Uint8Array {
  const size = ascii.encode(bytes.toString(16) + "\r\n");
  const out = new Uint8Array(size.length + bytes + 2);
  out.set(size);
  out.set(CRLF, size.length + bytes);
  const chunk = out.subarray(size.length, size.length + bytes);
  sharedChunks.set(chunk, out);
  sharedChunks.set(out, null);
  framedViews.set(out, chunk);
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
  if (known === null) {
    sharedChunks.set(chunk, out);
    sharedChunks.set(out, null); // written to many connections too
  }
  return out;
}

/**
 * Joins of shared chunks, by the last chunk joined (one join per last chunk). The chunks and
 * the join are held weakly: a last chunk that lives on (the relay's heartbeat frame) keeps
 * neither a queue's bytes nor their join once the connections wrote them.
 */
const sharedJoins = new WeakMap<
  Uint8Array,
  { chunks: readonly WeakRef<Uint8Array>[]; joined: WeakRef<Uint8Array> }
>();

/**
 * `chunks` joined into one buffer (`bytes`: their total length), as `concatBytes`; a list of
 * shared chunks is joined once for every connection that queued the same list (the connections
 * of a fan-out whose sockets were still taking a write when the next rounds came write one copy,
 * not one each), and the join is shared in turn.
 * @example
 * ```ts
 * const a = shareChunk(new Uint8Array([1])), b = shareChunk(new Uint8Array([2]));
 * joinChunks([a, b], 2) === joinChunks([a, b], 2); // true
 * ```
 */
export function joinChunks(chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length < 2) return concatBytes(chunks, bytes);
  const last = chunks[chunks.length - 1];
  const known = sharedJoins.get(last);
  if (known && sameChunks(known.chunks, chunks)) {
    const joined = known.joined.deref();
    if (joined) return joined;
  }
  const joined = concatBytes(chunks, bytes);
  for (const c of chunks) if (!sharedChunks.has(c)) return joined;
  sharedChunks.set(joined, null);
  sharedJoins.set(last, { chunks: chunks.map((c) => new WeakRef(c)), joined: new WeakRef(joined) });
  return joined;
}

function sameChunks(a: readonly WeakRef<Uint8Array>[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].deref() !== b[i]) return false;
  return true;
}
