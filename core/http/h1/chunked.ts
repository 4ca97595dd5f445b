/**
 * Incremental decoder of the chunked transfer coding (RFC 9112 section 7.1) over a byte
 * buffer: bounded chunk-size lines and extensions, strict CRLFs, bounded (discarded) trailers.
 * @module
 */
import { HttpError } from "../../errors/mod.ts";
import { latin1 } from "./bytes.ts";

/** Longest chunk-size line (size, extensions and CRLF) accepted by default. */
export const DEFAULT_MAX_CHUNK_LINE_BYTES = 4096;
/** Most trailer bytes accepted by default. */
export const DEFAULT_MAX_TRAILER_BYTES = 16 * 1024;

/** chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val a token or quoted. */
const EXTENSIONS =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*[ \t]*$/;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*$/;
/** Sizes above this many hex digits cannot be a safe integer. */
const MAX_SIZE_DIGITS = 13;

/** Decoder states. */
const State = { Size: 0, Data: 1, DataEnd: 2, Trailer: 3, Done: 4 } as const;
type State = typeof State[keyof typeof State];

/** Options for {@linkcode ChunkedDecoder}. */
export interface ChunkedLimits {
  maxLineBytes?: number;
  maxTrailerBytes?: number;
}

/**
 * Decodes a chunked body step by step. Each {@linkcode ChunkedDecoder.step} consumes bytes
 * from `buf[start:end]` and reports at most one run of body data inside the consumed range.
 *
 * @example
 * ```ts
 * const d = new ChunkedDecoder();
 * const bytes = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\n");
 * let at = 0;
 * while (!d.done) at += d.step(bytes, at, bytes.length); // d.dataLength: 3 after the 2nd step
 * ```
 */
export class ChunkedDecoder {
  /** Offset in `buf` of the data the last step found (valid when `dataLength > 0`). */
  dataOffset = 0;
  /** Bytes of body data the last step found. */
  dataLength = 0;
  #state: State = State.Size;
  #left = 0;
  #trailerBytes = 0;
  readonly #maxLine: number;
  readonly #maxTrailer: number;

  constructor(limits: ChunkedLimits = {}) {
    this.#maxLine = limits.maxLineBytes ?? DEFAULT_MAX_CHUNK_LINE_BYTES;
    this.#maxTrailer = limits.maxTrailerBytes ?? DEFAULT_MAX_TRAILER_BYTES;
  }

  /**
   * Bytes of the current chunk announced by its size line and not yet consumed (0 between
   * chunks): lets a reader refuse a body over its limit as soon as the size line arrives.
   */
  get pending(): number {
    return this.#state === State.Data ? this.#left : 0;
  }

  /** True once the last chunk and the trailer section were read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Consumes what it can from `buf[start:end]` and returns how many bytes; 0 means it needs
   * more bytes than are there. Sets `dataOffset`/`dataLength` to the body data consumed.
   *
   * @throws {HttpError} 400 for a malformed chunk, 431 for too large a trailer section.
   */
  step(buf: Uint8Array, start: number, end: number): number {
    this.dataLength = 0;
    switch (this.#state) {
      case State.Size:
        return this.#size(buf, start, end);
      case State.Data: {
        const n = Math.min(this.#left, end - start);
        this.#left -= n;
        this.dataOffset = start;
        this.dataLength = n;
        if (this.#left === 0) this.#state = State.DataEnd;
        return n;
      }
      case State.DataEnd:
        if (end - start < 2) return 0;
        if (buf[start] !== 13 || buf[start + 1] !== 10) throw bad("missing CRLF after chunk data");
        this.#state = State.Size;
        return 2;
      case State.Trailer:
        return this.#trailer(buf, start, end);
      case State.Done:
        return 0;
    }
  }

  /** Reads a chunk-size line. */
  #size(buf: Uint8Array, start: number, end: number): number {
    const line = lineIn(buf, start, end, this.#maxLine, "chunk-size line");
    if (line === undefined) return 0;
    if (line < 0) {
      throw new HttpError(400, `chunk-size line longer than ${this.#maxLine} bytes`, {
        limit_bytes: this.#maxLine,
      });
    }
    let size = 0;
    let i = start;
    for (; i < line; i++) {
      const d = hexValue(buf[i]);
      if (d < 0) break;
      if (i - start >= MAX_SIZE_DIGITS) throw bad("chunk size too large");
      size = size * 16 + d;
    }
    if (i === start) throw bad("invalid chunk size");
    if (i < line && !EXTENSIONS.test(latin1(buf, i, line))) throw bad("invalid chunk extension");
    this.#left = size;
    this.#state = size === 0 ? State.Trailer : State.Data;
    return line + 2 - start;
  }

  /** Reads one trailer field line (discarded) or the empty line that ends the body. */
  #trailer(buf: Uint8Array, start: number, end: number): number {
    const room = this.#maxTrailer - this.#trailerBytes;
    // A line may take what the lines before it left of the section; the refusal names the
    // section's bound, not what was left of it.
    const line = lineIn(buf, start, end, Math.max(room, 2), "trailer section");
    if (line === undefined) return 0;
    if (line >= 0) this.#trailerBytes += line + 2 - start;
    if (line < 0 || this.#trailerBytes > this.#maxTrailer) {
      throw new HttpError(431, `trailer section larger than ${this.#maxTrailer} bytes`, {
        limit_bytes: this.#maxTrailer,
      });
    }
    if (line === start) {
      this.#state = State.Done;
    } else if (!FIELD_LINE.test(latin1(buf, start, line))) {
      throw bad("invalid trailer field");
    }
    return line + 2 - start;
  }
}

/**
 * The offset of the CR of the CRLF ending the line at `start`, undefined when the line is not
 * complete yet, or -1 when it is longer than `max` (the caller refuses it, naming its bound).
 * @throws {HttpError} 400 when it is not CRLF-terminated.
 */
function lineIn(
  buf: Uint8Array,
  start: number,
  end: number,
  max: number,
  what: string,
): number | undefined {
  const lf = buf.subarray(start, Math.min(end, start + max)).indexOf(10);
  if (lf < 0) {
    if (end - start >= max) return -1;
    return undefined;
  }
  const at = start + lf;
  if (at === start || buf[at - 1] !== 13) throw bad(`bare LF in ${what}`);
  for (let i = start; i < at - 1; i++) if (buf[i] === 13) throw bad(`bare CR in ${what}`);
  return at - 1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function bad(message: string): HttpError {
  return new HttpError(400, message);
}
