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
 * Largest body a small lent buffer holds: most bodies fit one, and a pool of buffers sized for
 * the largest body only kept more memory resident under load.
 */
export const SMALL_LEASE_BYTES = 4 * 1024;
/**
 * Buffers kept for reuse, of each size (a proxied request holds two at most: its body and its
 * answer's; more are let go).
 */
export const LEASE_POOL_MAX = 128;

const small: Uint8Array<ArrayBuffer>[] = [];
const large: Uint8Array<ArrayBuffer>[] = [];

/**
 * A buffer for `n` bytes (at most {@linkcode LEASE_BYTES}) to lend: {@linkcode SMALL_LEASE_BYTES}
 * long when they fit one, else {@linkcode LEASE_BYTES}; give it back with
 * {@linkcode giveBackLease} once nothing reads it any more (or drop it: the collector frees it).
 *
 * @example
 * ```ts
 * const buf = takeLease(3);
 * buf.set([1, 2, 3]);
 * giveBackLease(buf);
 * ```
 */
export function takeLease(n: number = LEASE_BYTES): Uint8Array<ArrayBuffer> {
  if (n <= SMALL_LEASE_BYTES) return small.pop() ?? new Uint8Array(SMALL_LEASE_BYTES);
  return large.pop() ?? new Uint8Array(LEASE_BYTES);
}

/** The last two views {@linkcode leaseView} made, and the buffers they are of. */
let lastView: Uint8Array<ArrayBuffer> | undefined;
let lastViewOf: Uint8Array<ArrayBuffer> | undefined;
let priorView: Uint8Array<ArrayBuffer> | undefined;
let priorViewOf: Uint8Array<ArrayBuffer> | undefined;

/**
 * `buf.subarray(0, n)` of a buffer from {@linkcode takeLease}: the view made last, or the one
 * before it, when it is of the same buffer and length (a view costs about 400 instructions under
 * callgrind; a proxied request lends two buffers, its body's and its answer's, the same two for
 * the same parts from one request to the next). Only two views are kept, so at most two buffers
 * are held beyond their pool.
 *
 * @example
 * ```ts
 * const buf = takeLease(3);
 * leaseView(buf, 3) === leaseView(buf, 3); // true
 * ```
 */
export function leaseView(buf: Uint8Array<ArrayBuffer>, n: number): Uint8Array<ArrayBuffer> {
  if (lastViewOf === buf && lastView!.length === n) return lastView!;
  if (priorViewOf === buf && priorView!.length === n) return priorView!;
  const view = buf.subarray(0, n);
  priorView = lastView;
  priorViewOf = lastViewOf;
  lastView = view;
  lastViewOf = buf;
  return view;
}

/**
 * Returns a buffer from {@linkcode takeLease} to the pool of its size (kept up to
 * {@linkcode LEASE_POOL_MAX} of each; a buffer of another size is let go).
 */
export function giveBackLease(buf: Uint8Array<ArrayBuffer>): void {
  const pool = buf.length === SMALL_LEASE_BYTES
    ? small
    : buf.length === LEASE_BYTES
    ? large
    : undefined;
  if (pool !== undefined && pool.length < LEASE_POOL_MAX) pool.push(buf);
}
