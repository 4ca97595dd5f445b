/**
 * Decoder for `Transfer-Encoding: chunked` response bodies (RFC 9112 §7.1), pulling from a
 * connection. Strict: a chunk size is hex digits only, an extension holds no control
 * characters, every chunk ends in CRLF, trailer lines are well-formed field lines, and the
 * size line, the trailer section and the size itself are bounded.
 * @module
 */
import type { Connection } from "./connection.ts";
import { HttpClientError } from "./error.ts";
import { isFieldLine, isFieldText } from "./head.ts";

/** Longest chunk-size line (size and extensions) accepted. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** Most trailer-section bytes read (and discarded) after the last chunk. */
const MAX_TRAILER_BYTES = 16 * 1024;
/** Largest piece handed on at once (a big chunk is delivered in pieces). */
const MAX_PIECE = 64 * 1024;
/** Hex digits in a chunk size, leading zeros aside (13 stay below 2^53). */
const MAX_SIZE_DIGITS = 13;
const SEMICOLON = 59;

function invalid(reason: string): HttpClientError {
  return new HttpClientError("protocol", `invalid chunked body: ${reason}`);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * The size in a chunk-size line: `1*HEXDIG` then nothing, or BWS `;` and extensions (ignored,
 * but checked for control characters).
 *
 * @example
 * ```ts
 * chunkSize(new TextEncoder().encode("1a;name=value")); // 26
 * ```
 * @throws {HttpClientError} `protocol` for anything else.
 */
export function chunkSize(line: Uint8Array): number {
  let size = 0;
  let i = 0;
  let zeros = 0; // leading ones, which 1*HEXDIG allows and which add nothing
  for (; i < line.length; i++) {
    const v = hexValue(line[i]);
    if (v < 0) break;
    if (size === 0 && v === 0) zeros++;
    size = size * 16 + v;
  }
  if (i === 0) throw invalid("missing chunk size");
  if (i - zeros > MAX_SIZE_DIGITS) throw invalid("chunk size too large");
  if (i < line.length) {
    let j = i;
    while (j < line.length && (line[j] === 32 || line[j] === 9)) j++;
    if (line[j] !== SEMICOLON || !isFieldText(line, j, line.length)) {
      throw invalid("malformed chunk size line");
    }
  }
  return size;
}

/** Yields the decoded body piece by piece; null once the last chunk and trailers are read. */
export class ChunkedDecoder {
  #left = 0;
  #done = false;

  /** @param conn the connection the body arrives on, positioned after the response head */
  constructor(readonly conn: Connection) {}

  /**
   * The next piece of body, or null at the end.
   * @throws {HttpClientError} `protocol` when the framing is invalid or the body is cut short.
   */
  async next(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    if (this.#left === 0) {
      const size = chunkSize(await this.conn.readLine(MAX_CHUNK_LINE_BYTES));
      if (size === 0) {
        await this.#trailers();
        this.#done = true;
        return null;
      }
      this.#left = size;
    }
    const piece = await this.conn.readSome(Math.min(this.#left, MAX_PIECE));
    if (piece === null) throw new HttpClientError("protocol", "body cut short");
    this.#left -= piece.length;
    if (this.#left === 0 && (await this.conn.readLine(MAX_CHUNK_LINE_BYTES)).length !== 0) {
      throw invalid("missing CRLF after chunk data");
    }
    return piece;
  }

  /** Reads the trailer section up to the blank line that ends the message; keeps nothing. */
  async #trailers(): Promise<void> {
    let budget = MAX_TRAILER_BYTES;
    for (;;) {
      const line = await this.conn.readLine(budget);
      if (line.length === 0) return;
      if (!isFieldLine(line)) throw invalid("malformed trailer line");
      budget -= line.length + 2;
      if (budget <= 0) throw invalid("trailer section too large");
    }
  }
}
