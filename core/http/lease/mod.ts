/**
 * Body buffers lent out and given back: the pool the HTTP edge (request bodies of raw routes that
 * lease them) and the upstream client (whole small response bodies) share.
 * @module
 */
export {
  giveBackLease,
  LEASE_BYTES,
  LEASE_POOL_MAX,
  leaseView,
  SMALL_LEASE_BYTES,
  takeLease,
} from "./pool.ts";
