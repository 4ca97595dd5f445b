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

/**
 * The UTF-8 text of `path`, read up to `limit` bytes.
 * @example
 * ```ts
 * readTextUpTo("/etc/iatp/issuer.pub"); // "iatp-ed25519:..."
 * ```
 * @throws {FileTooLargeError} when the file holds more than `limit` bytes
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export function readTextUpTo(path: string, limit = MAX_SETTING_FILE_BYTES): string {
  return new TextDecoder().decode(readBytesUpTo(path, limit));
}
