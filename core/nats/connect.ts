/**
 * One connection to a NATS cluster with JetStream: the server list from a `nats://` URL,
 * credentials and TLS from settings, reconnection with jittered exponential backoff forever,
 * and a `connected` flag that requests needing the engine check first (503 while it is false).
 * @module
 */
import type { ConnectionOptions, MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { backoffDelay } from "../async/mod.ts";
import { readBytesWithin, readTextWithin, unreadableWhy } from "../config/mod.ts";
import { ConfigError, errorMessage } from "../errors/mod.ts";
import { type Logger, registerSecret } from "../log/mod.ts";
import { loadedNatsClient, loadNatsClient, type NatsClient } from "./client.ts";
import { EngineUnavailableError } from "./errors.ts";
import { guardedTransport, type GuardOptions, withGuard } from "./guard.ts";
import { DEFAULT_NATS_MAX_CONTROL_LINE, type NatsSettings } from "./settings/mod.ts";

const SERVER =
  /^(?:(nats|tls):\/\/)?(?:[^@/\s]+@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** Reconnect backoff: 100 ms doubling to 5 s, jittered. */
const RECONNECT = { baseMs: 100, maxMs: 5_000 };

/**
 * The servers of a `nats://` URL list; throws on anything else.
 *
 * @example
 * ```ts
 * natsServers("nats://10.0.0.1:4222,10.0.0.2:4222"); // ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
 * ```
 * @throws {NatsUrlError} naming the item that is not `nats://host[:port]`
 */
export function natsServers(url: string): string[] {
  const items = url.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0 || !/^(nats|tls):\/\//.test(items[0])) {
    throw new NatsUrlError("expected nats://host[:port][,host[:port]...]");
  }
  const scheme = items[0].slice(0, items[0].indexOf(":"));
  return items.map((item, i) => {
    const m = SERVER.exec(item);
    const port = m?.[3] === undefined ? 4222 : Number(m[3]);
    if (!m || port < 1 || port > 65535) {
      // With user info in the list, an item may be a password cut at an unencoded `,`.
      const shown = url.includes("@")
        ? `server ${i + 1} (not shown: the list holds user info; percent-encode / , @ in it)`
        : displayUrl(item);
      throw new NatsUrlError(`expected nats://host[:port], found ${shown}`);
    }
    return m[1] ? item : `${scheme}://${item}`;
  });
}

/**
 * A URL list with any `user:password@` removed, for logs and error messages (a password's
 * unencoded `/` included).
 *
 * @example
 * ```ts
 * displayUrl("nats://app:s3cret@10.0.0.1:4222"); // "nats://10.0.0.1:4222"
 * ```
 */
export function displayUrl(url: string): string {
  const shown = url.replace(/(^\s*(?![a-z]+:\/\/)|,\s*(?![a-z]+:\/\/)|\/\/)[^@,\s]*@/gi, "$1");
  if (!url.includes("@")) return shown;
  // A password cut at an unencoded `,` (the list's separator) or holding a space leaves the part
  // before it behind (`nats://app:s3,cret@h` gives `nats://app:s3,h`): with user info in the
  // list, it is shown only when every item left is a server.
  const items = shown.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length > 0 && items.every((item) => !item.includes("@") && SERVER.test(item))) {
    return shown;
  }
  const scheme = /^\s*([a-z]+):\/\//i.exec(url)?.[1] ?? "nats";
  return `${scheme}://(URL not shown: its user info is not percent-encoded; percent-encode / , @ in it)`;
}

/** Credentials written in a server URL: `user:password@` or a lone `token@`. */
export interface UrlCredentials {
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * The servers without their user info, and the credentials of the first server that has some
 * (percent-decoded): the client does not read credentials from its server URLs.
 *
 * @example
 * ```ts
 * splitUrlCredentials(["nats://app:s%40cret@h:4222"]);
 * // { servers: ["nats://h:4222"], credentials: { user: "app", pass: "s@cret" } }
 * ```
 * @throws {UrlCredentialsError} naming no credential when the user info is not percent-encoded
 * correctly
 */
export function splitUrlCredentials(
  servers: string[],
): { servers: string[]; credentials?: UrlCredentials } {
  let credentials: UrlCredentials | undefined;
  const bare = servers.map((server) => {
    const m = /^([a-z]+:\/\/)([^@/\s]+)@(.*)$/i.exec(server);
    if (!m) return server;
    if (credentials === undefined) {
      const decode = (text: string) => {
        try {
          return decodeURIComponent(text);
        } catch {
          throw new UrlCredentialsError();
        }
      };
      const colon = m[2].indexOf(":");
      credentials = colon < 0
        ? { token: decode(m[2]) }
        : { user: decode(m[2].slice(0, colon)), pass: decode(m[2].slice(colon + 1)) };
    }
    return m[1] + m[3];
  });
  return { servers: bare, credentials };
}

/** What a NATS URL setting must be, for the config error of one {@linkcode natsServers} refused. */
export const NATS_URL_EXPECTED =
  "a nats:// URL list, nats://[user:password@]host[:port][,...] with its user info percent-encoded";

/** A NATS URL list that is not `nats://host[:port][,...]`: a mistake in the setting, not a server out of reach. */
export class NatsUrlError extends Error {
  override name = "NatsUrlError";
}

/** The user info of a NATS URL is not percent-encoded correctly (no part of it is named). */
export class UrlCredentialsError extends Error {
  override name = "UrlCredentialsError";
  constructor() {
    super("the user info of the URL is not percent-encoded correctly");
  }
}

/** A live connection and its JetStream clients. */
export class NatsEngine {
  #connected = true;

  constructor(
    /** The client packages the connection was made with. */
    readonly client: NatsClient,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    /** The URL without credentials. */
    readonly display: string,
    log: Logger,
    private readonly backoff: Backoff = { attempt: 0 },
  ) {
    void this.#watch(log);
  }

  /** False while the connection is down (requests needing the engine answer 503). */
  get connected(): boolean {
    return this.#connected && !this.nc.isClosed();
  }

  async #watch(log: Logger): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") {
        this.#connected = false;
        log.warn("engine connection lost; reconnecting", { url: this.display });
      } else if (s.type === "reconnect") {
        this.#connected = true;
        this.backoff.attempt = 0;
        log.info("engine connection back", { url: this.display, server: s.server });
      }
    }
  }

  /** Fresh message headers (a headers object is never reused: the client adds its own). */
  headers(): MsgHdrs {
    return this.client.transport.headers();
  }

  /** Drains and closes the connection. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close();
    }
  }
}

/** The reconnect schedule: one backoff run per outage. */
interface Backoff {
  attempt: number;
}

async function connectOptions(
  client: NatsClient,
  s: NatsSettings,
  backoff: Backoff,
): Promise<ConnectionOptions> {
  const { servers, credentials } = splitUrlCredentials(natsServers(s.url));
  // Credentials given as settings win over ones written in the URL.
  const fromUrl = s.user === undefined && s.token === undefined && s.creds === undefined
    ? credentials
    : undefined;
  for (const secret of [fromUrl?.pass, fromUrl?.token]) {
    if (secret !== undefined && secret !== "") registerSecret(secret);
  }
  const opts: ConnectionOptions = {
    servers,
    name: s.name,
    timeout: s.timeoutMs,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () => backoffDelay(backoff.attempt++, RECONNECT),
    waitOnFirstConnect: false,
    ...(s.user === undefined ? {} : { user: s.user, pass: s.password ?? "" }),
    ...(s.token === undefined ? {} : { token: s.token }),
    ...(fromUrl?.token === undefined ? {} : { token: fromUrl.token }),
    ...(fromUrl?.user === undefined ? {} : { user: fromUrl.user, pass: fromUrl.pass ?? "" }),
  };
  if (s.creds !== undefined) {
    const creds = await settingFile("nats.creds", s.creds, readBytesWithin);
    opts.authenticator = client.transport.credsAuthenticator(creds);
    // Parsed and used once here (signing a throwaway nonce), so a file that holds no JWT and
    // seed is the setting's mistake, not a server out of reach. The client's reason names no
    // part of the file.
    try {
      opts.authenticator("iatp-check");
    } catch (err) {
      throw new ConfigError(
        "nats.creds",
        { kind: "default" },
        "a .creds file holding a user JWT and its NKey seed",
        `${s.creds} (${errorMessage(err)})`,
        { cause: err },
      );
    }
  }
  if (s.tlsCa !== undefined || s.tlsCert !== undefined || s.url.startsWith("tls:")) {
    // Read here, bounded (IATP_FILE_READ_TIMEOUT, 1 MiB), rather than by the client at each
    // connection attempt with neither bound.
    const pem = (key: string, path: string | undefined) =>
      path === undefined ? undefined : settingFile(key, path, readTextWithin);
    const ca = await pem("nats.tls_ca", s.tlsCa);
    const cert = await pem("nats.tls_cert", s.tlsCert);
    const key = await pem("nats.tls_key", s.tlsKey);
    opts.tls = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    };
  }
  return opts;
}

/**
 * The file at `path` a `nats` setting names, read by `read`.
 * @throws {ConfigError} naming `key` and the file when it cannot be read, is larger than 1 MiB or
 * its data does not arrive within IATP_FILE_READ_TIMEOUT
 */
async function settingFile<T>(
  key: string,
  path: string,
  read: (path: string) => Promise<T>,
): Promise<T> {
  try {
    return await read(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err; // IATP_FILE_READ_TIMEOUT is not a duration
    throw new ConfigError(key, { kind: "file", path }, "a readable file", unreadableWhy(err), {
      cause: err,
    });
  }
}

/**
 * A ConfigError naming the setting that gave the credentials the server refused (`nats.creds`,
 * else `nats.password` with `nats.user`, else `nats.token`) when `err` (or a cause of it) is the
 * server refusing the connection's authorization; otherwise undefined, also when the
 * credentials came written in the URL (its own setting is the one to name) or there were none.
 * The message names the URL without credentials, never a secret.
 * @example
 * ```ts
 * try { await connectNats(s, log); } catch (err) { throw credentialsError(err, s) ?? err; }
 * ```
 */
export function credentialsError(err: unknown, s: NatsSettings): ConfigError | undefined {
  const t = loadedNatsClient()?.transport;
  if (!t) return undefined;
  let refused: Error | undefined;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    if (e instanceof t.AuthorizationError || e instanceof t.UserAuthenticationExpiredError) {
      refused = e;
      break;
    }
  }
  if (!refused) return undefined;
  // The precedence of connectOptions: a creds file, else user and password, else a token.
  const [key, expected] = s.creds !== undefined
    ? ["nats.creds", "a credentials file the NATS server accepts"]
    : s.user !== undefined
    ? ["nats.password", "a password the NATS server accepts for nats.user"]
    : s.token !== undefined
    ? ["nats.token", "a token the NATS server accepts"]
    : [undefined, ""];
  if (key === undefined) return undefined;
  return new ConfigError(
    key,
    { kind: "default" },
    expected,
    `one ${displayUrl(s.url)} refused (${errorMessage(refused)})`,
    { cause: err },
  );
}

/** How often the log says a server's connection was closed for breaking a bound. */
const REFUSED_LOG_INTERVAL_MS = 60_000;

/** The bound of `s`, and its report: a log line at most once a minute, with `count`. */
function guardFor(s: NatsSettings, log: Logger): GuardOptions {
  let last = -Infinity;
  let count = 0;
  return {
    maxControlLine: s.maxControlLine ?? DEFAULT_NATS_MAX_CONTROL_LINE,
    onRefused(why) {
      count++;
      const now = performance.now();
      if (now - last < REFUSED_LOG_INTERVAL_MS) return;
      last = now;
      log.warn("engine connection closed: the server broke the protocol's bounds; reconnecting", {
        url: displayUrl(s.url),
        why: `the server sent ${why}`,
        count,
      });
      count = 0;
    },
  };
}

let guardedClass: NatsClient["node"]["NodeTransport"] | undefined;

/**
 * Connects as the client's own `connect` does, with transports that check what each server sends
 * (core/nats/guard.ts). The transport factory is the client's, shared by the process: every
 * connection of iatp is made here, so each of its reconnects gets a checked transport too.
 */
function connectGuarded(client: NatsClient, opts: ConnectionOptions): Promise<NatsConnection> {
  const { NodeTransport, nodeResolveHost } = client.node;
  const Guarded = guardedClass ??= guardedTransport(NodeTransport);
  client.transport.setTransportFactory({
    factory: () => new Guarded(),
    dnsResolveFn: nodeResolveHost,
  });
  return client.transport.NatsConnectionImpl.connect(opts);
}

let resetGuard = false;

/**
 * Keeps a late peer reset of a NATS socket from ending the process. On a refused connection
 * (bad credentials) the client drops its socket's listeners and destroys it, and a reset the
 * server sent meanwhile can still surface as an `error` event with no listener, which Deno
 * treats as uncaught. Only a read reset (`ECONNRESET`, syscall `read`) of a Node socket is
 * absorbed, and logged: the connection it belonged to is already gone, and the client
 * reconnects or has reported its own error.
 */
function absorbLateSocketResets(log: Logger): void {
  if (resetGuard) return;
  resetGuard = true;
  globalThis.addEventListener("error", (e) => {
    const err: unknown = e.error;
    if (!(err instanceof Error) || !("code" in err) || !("syscall" in err)) return;
    if (err.code !== "ECONNRESET" || err.syscall !== "read") return;
    e.preventDefault();
    log.warn("engine socket reset after it was closed; ignored");
  });
}

/**
 * Connects and checks that JetStream answers. The client packages are imported here, on the
 * first connection (see client.ts).
 * @throws {EngineUnavailableError} naming the URL (without credentials) when the servers cannot
 * be reached, refuse the credentials, or have no JetStream
 * @throws {UrlCredentialsError} when the URL's user info is not percent-encoded correctly
 */
export async function connectNats(s: NatsSettings, log: Logger): Promise<NatsEngine> {
  const display = displayUrl(s.url);
  const backoff = { attempt: 0 };
  absorbLateSocketResets(log);
  const client = await loadNatsClient();
  // A URL whose user info does not decode is the setting's mistake: thrown as it is.
  const opts = await connectOptions(client, s, backoff);
  let nc: NatsConnection;
  try {
    nc = await connectGuarded(client, withGuard(opts, guardFor(s, log)));
  } catch (err) {
    throw new EngineUnavailableError(`${display}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const jsm = await client.jetstream.jetstreamManager(nc, { timeout: s.timeoutMs });
    await jsm.getAccountInfo();
    const js = client.jetstream.jetstream(nc, { timeout: s.timeoutMs });
    return new NatsEngine(client, nc, js, jsm, display, log, backoff);
  } catch (err) {
    await nc.close();
    throw new EngineUnavailableError(`${display}: JetStream: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}
