/** ISO-8859-1 text for the HTTP/1.1 client: heads are byte strings. */

/**
 * Bytes as ISO-8859-1 text (every byte one character).
 *
 * @example
 * ```ts
 * latin1(Uint8Array.of(0x61, 0xe9)); // "aé"
 * ```
 */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    // apply() with the typed array itself: a spread would copy it into an array first.
    const part = bytes.subarray(i, Math.min(bytes.length, i + 4096));
    s += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return s;
}
