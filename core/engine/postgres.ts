/**
 * PostgreSQL connections (the `postgres` client, vendored in ./vendor/postgres) from one URL
 * setting. Every option is passed explicitly, so the client reads none of the `PG*` variables it
 * would otherwise consult (only `PGAPPNAME`, which it reads unconditionally, is granted in the
 * permission table); the password comes from the URL or a separate setting, is registered with
 * the log scrubber and never appears in a message: those name the URL without it.
 * @module
 */
// Loaded by connectPostgres only (./postgres_driver.ts, by a computed specifier): the client adds
// about 11 MB to a process that never uses it.
import type postgres from "./vendor/postgres/types/index.d.ts";
import { ConfigError, type ConfigSource, errorMessage } from "../errors/mod.ts";
import { registerSecret } from "../log/mod.ts";
import { loadDriver } from "./driver.ts";
import { decodeUrlPart, redactUrl } from "./url.ts";
import {
  DEFAULT_PG_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_PG_MAX_CONNECTIONS,
  DEFAULT_PG_MAX_MESSAGE_BYTES,
} from "./settings/mod.ts";

/** The client's query function. */
export type Sql = postgres.Sql;
/** A transaction's query function. */
export type TransactionSql = postgres.TransactionSql;

/** Seconds an idle connection is kept. */
const IDLE_TIMEOUT_SECONDS = 60;
/** Seconds before a connection is replaced (spreads load after a failover). */
const MAX_LIFETIME_SECONDS = 30 * 60;
/** Seconds between TCP keep-alive probes. */
const KEEP_ALIVE_SECONDS = 60;
/** Queries sent ahead on one connection. */
const MAX_PIPELINE = 100;
/** The default server port. */
const DEFAULT_PORT = 5432;

/** Options of {@linkcode connectPostgres}. */
export interface PostgresOptions {
  /** `postgres://user[:password]@host[:port][,host2[:port]]/database[?sslmode=...]` */
  url: string;
  /** The setting the URL came from, for error messages (e.g. `db`). */
  setting: string;
  source?: ConfigSource;
  /** Password (already resolved from `file:PATH`); overrides one in the URL. */
  password?: string;
  /** @default DEFAULT_PG_MAX_CONNECTIONS */
  maxConnections?: number;
  /** @default DEFAULT_PG_CONNECT_TIMEOUT_SECONDS */
  connectTimeoutSeconds?: number;
  /** Which server of a multi-host URL to use: writers want "read-write" (the primary). */
  targetSessionAttrs: "read-write" | "primary";
  /** Shown in pg_stat_activity. */
  applicationName: string;
  /**
   * The server's bound on one statement, and on a transaction left idle, in ms (0: none). Sent
   * when connecting, so a `statement_timeout`, `lock_timeout` or
   * `idle_in_transaction_session_timeout` set on the role or database does not apply: the
   * client's own first query (the array types) cancelled by one was an unhandled rejection that
   * ended the process. @default 0
   */
  statementTimeoutMs?: number;
  /**
   * Longest message taken from the server (one row, say): a longer one ends its connection
   * as a server out of reach (`MESSAGE_TOO_LARGE`). @default DEFAULT_PG_MAX_MESSAGE_BYTES
   */
  maxMessageBytes?: number;
}

/** A connected client and the URL it may be named by. */
export interface PostgresHandle {
  sql: Sql;
  /** The URL without its password. */
  label: string;
  /** Closes every connection (waits up to `timeoutSeconds` for running queries). */
  close(timeoutSeconds?: number): Promise<void>;
}

const SSL_MODES: Record<string, false | "require" | "prefer" | "verify-full"> = {
  disable: false,
  allow: "prefer",
  prefer: "prefer",
  require: "require",
  "verify-ca": "verify-full",
  "verify-full": "verify-full",
};

/**
 * A client for the URL (connections open lazily, on first query). The client package is
 * imported here, on the first call, by a computed specifier.
 * @throws {ConfigError} naming `opts.setting` when the URL is not a usable PostgreSQL URL or the
 * client package cannot be loaded.
 */
export async function connectPostgres(opts: PostgresOptions): Promise<PostgresHandle> {
  const label = redactUrl(opts.url);
  const source = opts.source ?? { kind: "default" as const };
  const bad = (why: string) =>
    new ConfigError(
      opts.setting,
      source,
      "postgres://user@host[:port]/database",
      `${label} (${why})`,
    );
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch (err) {
    throw new ConfigError(opts.setting, source, "a postgres:// URL", label, { cause: err });
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw bad("not postgres://");
  // The authority as written (a multi-host list is not a valid URL host for URL()).
  const authority = opts.url.slice(opts.url.indexOf("://") + 3).split(/[/?#]/)[0];
  const decoded = (text: string, part: string): string => {
    const value = decodeUrlPart(text);
    if (value === undefined) throw bad(`${part} is not percent-encoded correctly`);
    return value;
  };
  const hosts = decoded(authority.slice(authority.lastIndexOf("@") + 1), "host");
  const servers = hosts === "" ? undefined : splitHosts(hosts);
  if (servers === undefined && hosts !== "") {
    throw bad("a host is not host[:port] or [IPv6][:port]");
  }
  const user = decoded(u.username, "user");
  const database = decoded(u.pathname.slice(1), "database");
  if (hosts === "") throw bad("no host");
  if (user === "") throw bad("no user");
  if (database === "") throw bad("no database");
  const sslmode = u.searchParams.get("sslmode") ?? "disable";
  if (!(sslmode in SSL_MODES)) throw bad(`unknown sslmode ${sslmode}`);
  const password = opts.password ?? (u.password === "" ? "" : decoded(u.password, "password"));
  registerSecret(password);
  // Strings: the client leaves a parameter whose value is falsy (0) out of the startup message.
  const statementTimeout = String(Math.max(0, Math.ceil(opts.statementTimeoutMs ?? 0)));
  const connection: Record<string, string> = {
    application_name: opts.applicationName,
    statement_timeout: statementTimeout,
    lock_timeout: "0",
    idle_in_transaction_session_timeout: statementTimeout,
  };
  const { default: postgres } = await loadDriver<typeof import("./postgres_driver.ts")>(
    "./postgres_driver.ts",
    opts.setting,
    source,
    label,
  );
  const sql = postgres({
    // Lists, so the client reads no `host:port` itself (it split `[::1]:5432` at its first `:`).
    host: servers!.map((h) => h.host),
    port: servers!.map((h) => h.port),
    database,
    user,
    // A function, so an empty password never falls back to PGPASSWORD.
    pass: () => password,
    max: opts.maxConnections ?? DEFAULT_PG_MAX_CONNECTIONS,
    ssl: SSL_MODES[sslmode],
    sslnegotiation: null,
    idle_timeout: IDLE_TIMEOUT_SECONDS,
    connect_timeout: opts.connectTimeoutSeconds ?? DEFAULT_PG_CONNECT_TIMEOUT_SECONDS,
    max_lifetime: MAX_LIFETIME_SECONDS,
    max_pipeline: MAX_PIPELINE,
    backoff: (retries: number) => Math.min(0.1 * 2 ** retries, 5),
    keep_alive: KEEP_ALIVE_SECONDS,
    prepare: true,
    debug: false,
    // Array parameters (unnest of a batch) need the server's array type ids.
    fetch_types: true,
    publications: "alltables",
    target_session_attrs: opts.targetSessionAttrs,
    connection,
    onnotice: () => {},
    max_message: opts.maxMessageBytes ?? DEFAULT_PG_MAX_MESSAGE_BYTES,
    // The client takes lists of hosts and ports (its BaseOptions); its Options type names one.
  } as unknown as postgres.Options<Record<string, never>>);
  return { sql, label, close: (timeout = 5) => sql.end({ timeout }) };
}

/**
 * The servers of a URL's host list (`host[:port],...`; an IPv6 literal in brackets), or
 * undefined when one is not of that form.
 */
function splitHosts(hosts: string): { host: string; port: number }[] | undefined {
  const out: { host: string; port: number }[] = [];
  for (const part of hosts.split(",")) {
    const m = /^(?:\[([0-9A-Fa-f:.]+(?:%[^\]]+)?)\]|([^:\[\]]+))(?::([0-9]{1,5}))?$/.exec(part);
    const port = m?.[3] === undefined ? DEFAULT_PORT : Number(m[3]);
    if (!m || port < 1 || port > 65535) return undefined;
    out.push({ host: m[1] ?? m[2], port });
  }
  return out;
}

/**
 * One round trip, so a service refuses to start against a server it cannot reach.
 * @throws {ConfigError} naming `setting` and the URL (without password) when it fails.
 */
export async function checkPostgres(
  pg: PostgresHandle,
  setting: string,
  source: ConfigSource = { kind: "default" },
): Promise<void> {
  try {
    await pg.sql`SELECT 1`;
  } catch (err) {
    throw new ConfigError(
      setting,
      source,
      "a reachable PostgreSQL server",
      `${pg.label}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/** SQLSTATE of a login the server refused for its password. */
const INVALID_PASSWORD = "28P01";

/**
 * A ConfigError naming `passwordSetting` when `err` (or the ConfigError of
 * {@linkcode checkPostgres} around it) is the server refusing the password that setting gave
 * (SQLSTATE 28P01); otherwise `err` unchanged. The message names the URL without the password.
 * @example
 * ```ts
 * try { await checkPostgres(pg, "db"); } catch (err) { throw passwordError(err, pg, "db_password"); }
 * ```
 */
export function passwordError(
  err: unknown,
  pg: PostgresHandle,
  passwordSetting: string,
  source: ConfigSource = { kind: "default" },
): unknown {
  const cause = err instanceof ConfigError ? err.cause : err;
  if ((cause as { code?: unknown } | null)?.code !== INVALID_PASSWORD) return err;
  return new ConfigError(
    passwordSetting,
    source,
    `the password of ${pg.label}`,
    `one the server refused (${errorMessage(cause)})`,
    { cause },
  );
}

/** SQLSTATE of a statement the server refused for want of a privilege. */
const INSUFFICIENT_PRIVILEGE = "42501";

/**
 * A ConfigError naming `setting` and the URL (without password) when `err` is the server
 * refusing the database user a privilege (SQLSTATE 42501: `permission denied for schema
 * public`), which only the operator can grant; otherwise `err` unchanged.
 * @example
 * ```ts
 * try { await migrate(); } catch (err) { throw privilegeError(err, pg, "db", "CREATE on its schema"); }
 * ```
 */
export function privilegeError(
  err: unknown,
  pg: PostgresHandle,
  setting: string,
  expected: string,
  source: ConfigSource = { kind: "default" },
): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== INSUFFICIENT_PRIVILEGE) return err;
  return new ConfigError(setting, source, expected, `${pg.label}: ${errorMessage(err)}`, {
    cause: err,
  });
}

/** Socket and client error codes that mean the server is out of reach. */
const OUTAGE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  // A message past maxMessageBytes: the connection is ended and made again.
  "MESSAGE_TOO_LARGE",
]);

/**
 * Whether an error means the server is unreachable or not accepting work (connection errors,
 * SQLSTATE class 08, shutdown 57P01-57P03, too many connections, a primary turned read-only),
 * as opposed to a bad query.
 * @example
 * ```ts
 * isPostgresOutage(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })); // true
 * ```
 */
export function isPostgresOutage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return OUTAGE_CODES.has(code) || code.startsWith("08") ||
    ["57P01", "57P02", "57P03", "53300", "25006"].includes(code);
}
