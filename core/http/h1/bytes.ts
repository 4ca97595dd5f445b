/**
 * Byte helpers of the HTTP/1.1 reader: the exact (latin1) reading of head bytes and the
 * search for the empty line that ends a head.
 * @module
 */

/**
 * One char per byte: the exact reading of head bytes, obs-text (0x80-0xFF) included, which a
 * UTF-8 or windows-1252 decoder would change.
 * @example
 * ```ts
 * latin1(new Uint8Array([72, 0xe9]), 0, 2); // "H\u00e9"
 * ```
 */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 8192) {
    s += String.fromCharCode(...buf.subarray(i, Math.min(end, i + 8192)));
  }
  return s;
}

const ascii = new TextDecoder();

/** {@linkcode latin1}, faster for the usual all-ASCII head. */
export function headText(buf: Uint8Array, start: number, end: number): string {
  const s = ascii.decode(buf.subarray(start, end));
  return s.length === end - start && !NON_ASCII.test(s) ? s : latin1(buf, start, end);
}
const NON_ASCII = /[\x80-\uffff]/;

/**
 * The offset just past the empty line that ends a head in `buf[from:end]`, or -1. `from` may
 * point into the head (bytes before it were searched already); the head starts at `start`.
 * A line ending in a bare LF also counts, so that the parser can refuse it at once instead of
 * waiting for a CRLF that never comes.
 * @example
 * ```ts
 * const b = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * headEnd(b, 0, 0, b.length); // b.length
 * ```
 */
export function headEnd(buf: Uint8Array, start: number, from: number, end: number): number {
  let i = Math.max(from, start);
  for (;;) {
    i = buf.indexOf(10, i);
    if (i < 0 || i >= end) return -1;
    // LF preceded by LF, or by CR LF: an empty line.
    if (i > start && buf[i - 1] === 10) return i + 1;
    if (i - 2 >= start && buf[i - 1] === 13 && buf[i - 2] === 10) return i + 1;
    i++;
  }
}

/**
 * `chunks` joined into one buffer; a single chunk is returned as it is, uncopied.
 * @param bytes their total length, when the caller already knows it
 * @example
 * ```ts
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(chunks: readonly Uint8Array[], bytes?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let total = bytes ?? 0;
  if (bytes === undefined) { for (const c of chunks) total += c.length; }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
