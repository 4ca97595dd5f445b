/**
 * What a service's settings name of the storage engines before it connects: whether a storage
 * setting is a PostgreSQL URL, and the connection defaults its fields show. Apart from the
 * clients (core/engine), so a service on a file store loads none of them at start.
 *
 * @example
 * ```ts
 * isPostgresUrl("postgres://app@db/iatp"); // true: connect with core/engine
 * ```
 * @module
 */

/** Default most connections one process opens to the server. */
export const DEFAULT_PG_MAX_CONNECTIONS = 4;
/** Default longest message taken from a PostgreSQL server (one row of the ledger, say). */
export const DEFAULT_PG_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Default seconds to wait for a connection before the engine counts as unreachable. */
export const DEFAULT_PG_CONNECT_TIMEOUT_SECONDS = 5;

/**
 * Whether a storage setting names a PostgreSQL server rather than a file.
 * @example
 * ```ts
 * isPostgresUrl("postgres://app@db/iatp"); // true
 * isPostgresUrl("data/audit.db"); // false
 * ```
 */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}
