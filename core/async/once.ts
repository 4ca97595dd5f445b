/**
 * A value made once with its first use, for what a service opens or loads late.
 * @module
 */

/**
 * `make()` with the first call; later calls share its promise, unless it rejected: then the next
 * call makes it again (a disk that was full, a file that was missing, may be fine by then).
 * @example
 * ```ts
 * const key = onceUntilFailure(() => importSeed(seed));
 * await key(); // imports
 * await key(); // the same key
 * ```
 */
export function onceUntilFailure<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () =>
    value ??= make().catch((err) => {
      value = undefined;
      throw err;
    });
}
