/**
 * Connections to the storage engines iatp can run on beyond one machine (PostgreSQL, Redis):
 * clients built from one URL setting with every option explicit, messages that name the URL
 * without its password, and the availability gate that answers 503 while an engine is down and
 * reconnects with backoff.
 *
 * @example
 * ```ts
 * const pg = await connectPostgres({
 *   url: "postgres://app@db/iatp", setting: "db", targetSessionAttrs: "read-write",
 *   applicationName: "iatp-audit",
 * });
 * await checkPostgres(pg, "db"); // ConfigError naming the URL when unreachable
 * const gate = new EngineGate({
 *   label: `PostgreSQL ${pg.label}`, probe: async () => { await pg.sql`SELECT 1`; },
 *   isOutage: isPostgresOutage,
 * });
 * await gate.run(() => pg.sql`SELECT now()`); // UnavailableError (503) while down
 * ```
 * @module
 */
export {
  DEFAULT_RECONNECT,
  DEFAULT_RETRY_AFTER_SECONDS,
  EngineGate,
  type EngineGateOptions,
} from "./gate.ts";
export {
  checkPostgres,
  connectPostgres,
  isPostgresOutage,
  passwordError,
  type PostgresHandle,
  type PostgresOptions,
  privilegeError,
  type Sql,
  type TransactionSql,
} from "./postgres.ts";
export {
  connectRedis,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
  type RedisClient,
  type RedisHandle,
  type RedisOptions,
} from "./redis.ts";
export { redactUrl } from "./url.ts";
export {
  DEFAULT_PG_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_PG_MAX_CONNECTIONS,
  isPostgresUrl,
} from "./settings/mod.ts";
