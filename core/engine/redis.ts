/**
 * Redis connections (the `redis` npm client) from one URL setting: every option explicit, the
 * password from the URL or a separate setting (registered with the log scrubber, never in a
 * message), commands refused at once while disconnected (no offline queue), and reconnection
 * with backoff once the first connection has succeeded. The client reads only
 * `REDIS_DEBUG_MAINTENANCE` and `REDIS_EMIT_DIAGNOSTICS`, which the permission table grants
 * (without them its connect() never settles).
 * @module
 */
// Loaded by connectRedis only (./redis_driver.ts, by a computed specifier): the client adds about
// 30 MB to a process that never uses it.
import type { createClient } from "redis";
import { backoffDelay, type BackoffPolicy } from "../async/mod.ts";
import { ConfigError, type ConfigSource, errorMessage } from "../errors/mod.ts";
import { type Logger, registerSecret, silentLogger } from "../log/mod.ts";
import { loadDriver } from "./driver.ts";
import { DEFAULT_RECONNECT } from "./gate.ts";
import { decodeUrlPart, redactUrl } from "./url.ts";

/** Default milliseconds to wait for a connection before the engine counts as unreachable. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 5_000;
/**
 * Default milliseconds a command may take before it fails (a hung server is an outage). The
 * client applies it only to commands not yet written; callers bound the wait for a reply with
 * {@linkcode RedisHandle.commandTimeoutMs}.
 */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 5_000;
/** The default server port. */
const DEFAULT_PORT = 6379;
/** Commands waiting for replies on the one connection before new ones are refused. */
const MAX_COMMAND_QUEUE = 10_000;

/** Options of {@linkcode connectRedis}. */
export interface RedisOptions {
  /** `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  /** The setting the URL came from, for error messages. */
  setting: string;
  source?: ConfigSource;
  /** Overrides the URL's password (e.g. read from a file). */
  password?: string;
  /** @default DEFAULT_REDIS_CONNECT_TIMEOUT_MS */
  connectTimeoutMs?: number;
  /** @default DEFAULT_REDIS_COMMAND_TIMEOUT_MS */
  commandTimeoutMs?: number;
  /** @default DEFAULT_RECONNECT */
  reconnect?: BackoffPolicy;
  /** Shown by `CLIENT LIST`. */
  clientName: string;
  log?: Logger;
}

/** Every client option, explicit. */
function newClient(create: typeof createClient, o: {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  database: number;
  name: string;
  connectTimeout: number;
  commandTimeout: number;
  reconnectStrategy: (retries: number, cause: Error) => number | Error;
}) {
  const socket = { host: o.host, port: o.port, connectTimeout: o.connectTimeout };
  return create({
    socket: o.tls
      ? { ...socket, tls: true, reconnectStrategy: o.reconnectStrategy }
      : { ...socket, tls: false as const, reconnectStrategy: o.reconnectStrategy },
    username: o.username,
    password: o.password,
    database: o.database,
    name: o.name,
    disableOfflineQueue: true,
    commandsQueueMaxLength: MAX_COMMAND_QUEUE,
    commandOptions: { timeout: o.commandTimeout },
    // No endpoint-moving handshake (a managed-Redis feature; it would resolve the host again).
    maintNotifications: "disabled",
  });
}

/** The client type {@linkcode connectRedis} returns. */
export type RedisClient = ReturnType<typeof newClient>;

/** A connected client and the URL it may be named by. */
export interface RedisHandle {
  client: RedisClient;
  /** The URL without its password. */
  label: string;
  /** True while commands can be sent (false while reconnecting). */
  readonly ready: boolean;
  /** Longest wait for one command; written commands are not timed out by the client itself. */
  commandTimeoutMs: number;
  /** Closes the connection (pending replies are awaited). */
  close(): Promise<void>;
  /** Drops the connection at once (pending commands are rejected). */
  destroy(): void;
}

/**
 * Connects to the URL, or fails at once: a server that cannot be reached at start is a
 * configuration problem. Later losses reconnect with backoff.
 * @throws {ConfigError} naming `opts.setting` and the URL (without password) when the URL is
 * unusable or the server cannot be reached.
 */
export async function connectRedis(opts: RedisOptions): Promise<RedisHandle> {
  const label = redactUrl(opts.url);
  const source = opts.source ?? { kind: "default" as const };
  const log = opts.log ?? silentLogger;
  const bad = (expected: string, why: string, cause?: unknown) =>
    new ConfigError(opts.setting, source, expected, `${label} (${why})`, { cause });
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch (err) {
    throw new ConfigError(opts.setting, source, "a redis:// URL", label, { cause: err });
  }
  const tls = u.protocol === "rediss:";
  if (!tls && u.protocol !== "redis:") throw bad("redis://host[:port][/db]", "not redis://");
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw bad("redis://host[:port][/db]", "no host");
  const dbText = u.pathname.replace(/^\//, "");
  const database = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(database) || database < 0) {
    throw bad("redis://host[:port][/db]", "database is not a number");
  }
  const decoded = (text: string, part: string): string => {
    const value = decodeUrlPart(text);
    if (value === undefined) {
      throw bad(
        "redis://[user:password@]host[:port][/db]",
        `${part} is not percent-encoded correctly`,
      );
    }
    return value;
  };
  const username = u.username === "" ? undefined : decoded(u.username, "user");
  const password = opts.password ??
    (u.password === "" ? undefined : decoded(u.password, "password"));
  registerSecret(password);
  const reconnect = opts.reconnect ?? DEFAULT_RECONNECT;
  let connected = false;
  const { createClient } = await loadDriver<typeof import("./redis_driver.ts")>(
    "./redis_driver.ts",
    opts.setting,
    source,
    label,
  );
  const client = newClient(createClient, {
    host,
    port: u.port === "" ? DEFAULT_PORT : Number(u.port),
    tls,
    username,
    password,
    database,
    name: opts.clientName,
    connectTimeout: opts.connectTimeoutMs ?? DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: opts.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    // Before the first connection: give up (the start fails); after: back off and retry.
    reconnectStrategy: (retries: number, cause: Error) =>
      connected ? backoffDelay(retries, reconnect) : cause,
  });
  let down = false;
  client.on("error", (err: unknown) => {
    if (down || !connected) return;
    down = true;
    log.warn("storage engine unreachable; reconnecting", {
      engine: `Redis ${label}`,
      err: errorMessage(err),
    });
  });
  client.on("ready", () => {
    if (down) log.info("storage engine reachable again", { engine: `Redis ${label}` });
    down = false;
  });
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw bad("a reachable Redis server", errorMessage(err), err);
  }
  connected = true;
  return {
    client,
    label,
    commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    get ready() {
      return client.isReady;
    },
    async close() {
      if (client.isOpen) await client.close().catch(() => client.destroy());
      else client.destroy();
    },
    destroy() {
      if (client.isOpen) client.destroy();
    },
  };
}
