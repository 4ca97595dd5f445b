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
 * The UTF-8 text of `path`, read up to `limit` bytes.
 * @example
 * ```ts
 * readTextUpTo("/etc/iatp/issuer.pub"); // "iatp-ed25519:..."
 * ```
 * @throws {FileTooLargeError} when the file holds more than `limit` bytes
 * @throws {Error} Deno's error when it cannot be opened or read
 */
export function readTextUpTo(path: string, limit = MAX_SETTING_FILE_BYTES): string {
  const file = Deno.openSync(path);
  try {
    // Grows as the file does: a small key file takes a small buffer, not the whole bound.
    let buf = new Uint8Array(Math.min(FIRST_READ_BYTES, limit + 1));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > limit) throw new FileTooLargeError(limit);
        const bigger = new Uint8Array(Math.min(buf.length * 2, limit + 1));
        bigger.set(buf);
        buf = bigger;
      }
      const got = file.readSync(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    file.close();
  }
}
