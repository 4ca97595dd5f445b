/**
 * Decoder for `Transfer-Encoding: chunked` response bodies, pulling from a connection.
 * @module
 */
import { type Connection, UpstreamError } from "./connection.ts";

/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 8 * 1024;
/** Largest piece handed on at once (a big chunk is delivered in pieces). */
const MAX_PIECE = 64 * 1024;

/** Yields the decoded body piece by piece; null once the last chunk and trailers are read. */
export class ChunkedDecoder {
  #left = 0;
  #done = false;

  constructor(readonly conn: Connection) {}

  /** The next piece of body, or null at the end. */
  async next(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    if (this.#left === 0) {
      const line = await this.conn.readLine(MAX_LINE);
      const size = parseInt(line.split(";")[0].trim(), 16);
      if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+/.test(line.trim())) {
        throw new UpstreamError("protocol", "bad chunk size");
      }
      if (size === 0) {
        // Trailers, then the blank line that ends the message.
        while ((await this.conn.readLine(MAX_LINE)) !== "");
        this.#done = true;
        return null;
      }
      this.#left = size;
    }
    const piece = await this.conn.readSome(Math.min(this.#left, MAX_PIECE));
    if (piece === null) throw new UpstreamError("protocol", "body cut short");
    this.#left -= piece.length;
    if (this.#left === 0 && (await this.conn.readLine(MAX_LINE)) !== "") {
      throw new UpstreamError("protocol", "missing CRLF after chunk");
    }
    return piece;
  }
}
