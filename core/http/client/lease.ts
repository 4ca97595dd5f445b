/**
 * Body buffers lent out and given back: to raw handlers that read a request body only until
 * their answer resolves (`RawHandler.leasesBody`), and by the upstream client for a whole small
 * response body (given back once its bytes were copied out). A small body is copied into a pooled
 * buffer instead of an array of its own (in Deno every new byte array is a separate allocation
 * outside the JavaScript heap, the costliest step of a small request), and the buffer is reused.
 * @module
 */

/** Largest body a lent buffer holds; a larger one gets an array of its own. */
export const LEASE_BYTES = 16 * 1024;
/**
 * Buffers kept for reuse (a proxied request holds two at most: its body and its answer's; more
 * are let go).
 */
export const LEASE_POOL_MAX = 128;

const pool: Uint8Array<ArrayBuffer>[] = [];

/**
 * A buffer of {@linkcode LEASE_BYTES} to lend; give it back with {@linkcode giveBackLease}
 * once nothing reads it any more (or drop it: the collector frees it).
 *
 * @example
 * ```ts
 * const buf = takeLease();
 * buf.set([1, 2, 3]);
 * giveBackLease(buf);
 * ```
 */
export function takeLease(): Uint8Array<ArrayBuffer> {
  return pool.pop() ?? new Uint8Array(LEASE_BYTES);
}

/** Returns a buffer from {@linkcode takeLease} to the pool (kept up to {@linkcode LEASE_POOL_MAX}). */
export function giveBackLease(buf: Uint8Array<ArrayBuffer>): void {
  if (pool.length < LEASE_POOL_MAX) pool.push(buf);
}
