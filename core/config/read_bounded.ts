/**
 * Reading a file a setting names, up to a bound: a device (`/dev/zero`) or a huge file is an
 * error naming the bound, never an out-of-memory crash.
 * @module
 */

/** Largest file a setting may name and have read whole (a config file, a key, a credential). */
export const MAX_SETTING_FILE_BYTES = 1024 * 1024;

/** The first read buffer's size; it doubles up to the bound as a file needs. */
const FIRST_READ_BYTES = 16 * 1024;

/** Thrown by {@linkcode readTextUpTo} for a file over its bound; the message says the bound. */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
  /** @param limit the bound, in bytes */
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
  }
}

/**
 * The bytes of `path`, read up to `limit`, into `buf` (grown by doubling as the file needs, up to
 * `limit + 1`): a view of `buf` or of its larger replacement, which a caller reading many files
 * passes back in (`new Uint8Array(bytes.buffer)`).
 * @example
 * ```ts
 * let buf = new Uint8Array(64 * 1024);
 * const bytes = readBytesUpTo("deno.json", 1 << 20, buf);
 * buf = new Uint8Array(bytes.buffer);
 * ```
 * @throws {FileTooLargeError} when the file holds more than `limit` bytes
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export function readBytesUpTo(
  path: string,
  limit = MAX_SETTING_FILE_BYTES,
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(Math.min(FIRST_READ_BYTES, limit + 1)),
): Uint8Array<ArrayBuffer> {
  using file = Deno.openSync(path);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (n > limit) throw new FileTooLargeError(limit);
      const bigger = new Uint8Array(Math.min(Math.max(buf.length * 2, 1), limit + 1));
      bigger.set(buf);
      buf = bigger;
    }
    const got = file.readSync(buf.subarray(n));
    if (got === null) return buf.subarray(0, n);
    n += got;
  }
}

/** Thrown by {@linkcode readTextUpTo} for a file that is not UTF-8 text; `line` is 1-based. */
export class NotUtf8Error extends Error {
  override name = "NotUtf8Error";
  /** @param line the first line holding a byte sequence that is not UTF-8 */
  constructor(readonly line: number) {
    super(`not UTF-8 text (line ${line})`);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The UTF-8 text of `bytes`, decoded strictly; a UTF-8 byte order mark is left out.
 * @throws {NotUtf8Error} naming the first line that is not UTF-8 (a Latin-1 or UTF-16 file)
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // A line feed byte is never part of a multi-byte sequence: decode line by line to find it.
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        strictUtf8.decode(bytes.subarray(start, i));
      } catch {
        throw new NotUtf8Error(line);
      }
      line++;
      start = i + 1;
    }
    throw new NotUtf8Error(line - 1);
  }
}

/**
 * The UTF-8 text of `path`, read up to `limit` bytes.
 * @example
 * ```ts
 * readTextUpTo("/etc/iatp/issuer.pub"); // "iatp-ed25519:..."
 * ```
 * @throws {FileTooLargeError} when the file holds more than `limit` bytes
 * @throws {NotUtf8Error} when it is not UTF-8 text
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export function readTextUpTo(path: string, limit = MAX_SETTING_FILE_BYTES): string {
  return decodeUtf8(readBytesUpTo(path, limit));
}
