/**
 * `iatp audit`: the tamper-evident ledger service (RFC 6962 Merkle log, C2SP checkpoints,
 * receipts) on SQLite, or on PostgreSQL for replicas sharing one log, and `iatp audit verify`
 * to check a ledger offline or live.
 * @module
 */
import { meshAuthFields, meshAuthSettings } from "../core/auth/mesh/mod.ts";
import { resolveSecretSetting } from "../core/auth/settings/mod.ts";
import { compatField } from "../core/compat/mod.ts";
import {
  bytes,
  DATA_DIR,
  defineConfig,
  duration,
  ensureParentDir,
  type Infer,
  int,
  lateImport,
  newerSchemaError,
  path,
  type PathGrant,
  requireRegularFile,
  type SourceMap,
  str,
  url,
} from "../core/config/mod.ts";
import {
  DEFAULT_PG_CONNECT_TIMEOUT_SECONDS,
  DEFAULT_PG_MAX_CONNECTIONS,
  DEFAULT_PG_MAX_MESSAGE_BYTES,
  isPostgresUrl,
} from "../core/engine/settings/mod.ts";
import { ConfigError, errorMessage, NewerSchemaError } from "../core/errors/mod.ts";
import {
  createServer,
  edgeOptions,
  type Service,
  serviceFields,
  withShutdown,
} from "../core/http/mod.ts";
import {
  auditHealth,
  type AuditLog,
  DEFAULT_COMMIT_TIMEOUT_MS,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_PENDING,
  Ledger,
  type LedgerKey,
  LedgerKeyMismatchError,
  LedgerOriginMismatchError,
  LedgerStore,
  loadSigningKey,
  NotALedgerError,
  openPgLedger,
  registerAuditRoutes,
  registerLedgerMetrics,
} from "../core/ledger/mod.ts";
import type { Logger } from "../core/log/mod.ts";
import type { RelayClient } from "../core/relay/client/mod.ts";
import { relayFlushField, relayTimeoutField } from "../core/relay/client/settings/mod.ts";
import { verifyCommand, verifySpec } from "./audit/verify.ts";
import { serviceCommand, serviceLogger, warnOpenFolder } from "./shared.ts";
import { runAsEntry } from "./run.ts";

/** The audit service's configuration. */
export const spec = defineConfig({
  command: "audit",
  summary: "Tamper-evident ledger: POST /audit (scope audit:append when auth_keys are set) " +
    "answers with a signed Merkle receipt once the entry is durable. Public reads: GET /tx/{id}, " +
    "/entries/{i}, /checkpoint, /proof/inclusion, /proof/consistency.",
  usageLines: ["verify (--db PATH | --url URL) [flags]   (see iatp audit verify --help)"],
  fields: {
    ...serviceFields(8003),
    ...meshAuthFields(),
    compat: compatField("IG&S audit service"),
    db: str({
      help: "SQLite ledger file (WAL, synchronous=FULL), or postgres://user@host/db for one " +
        "ledger shared by replicas",
      default: `${DATA_DIR}/audit.db`,
      grants: (v) => isPostgresUrl(v) ? [] : [{ path: v, access: "write" }],
    }),
    db_password: str({
      help: "PostgreSQL password, or file:PATH (else the one in the db URL, if any)",
      secret: true,
      fileRef: true,
    }),
    db_max_connections: int({
      help: "PostgreSQL connections this replica opens",
      default: DEFAULT_PG_MAX_CONNECTIONS,
      min: 1,
    }),
    db_connect_timeout: duration({
      help: "wait for a PostgreSQL connection before answering 503",
      default: DEFAULT_PG_CONNECT_TIMEOUT_SECONDS * 1000,
      min: 1000,
    }),
    db_max_message: bytes({
      help: "largest message taken from the PostgreSQL server (one ledger row, say); a larger " +
        "one ends that connection as a server out of reach, and an append whose row would be " +
        "larger is refused (413)",
      default: DEFAULT_PG_MAX_MESSAGE_BYTES,
      min: 1024 * 1024,
    }),
    commit_timeout: duration({
      help: "wait for one PostgreSQL group commit (or read) before its requests get 503",
      default: DEFAULT_COMMIT_TIMEOUT_MS,
      min: 1,
    }),
    key_file: path({
      help: "Ed25519 seed file, created on first start (default <db>.key; with a postgres:// " +
        "db, required unless signing_key is set: every replica signs with the same key)",
      access: "write",
    }),
    signing_key: str({
      help: "base64 Ed25519 seed (overrides key_file), or file:PATH",
      secret: true,
      fileRef: true,
    }),
    origin: str({
      help: "checkpoint origin line (default iatp-audit/<key id>)",
      // The origin is the signed note's key name too: a space, '+' or line break in it makes
      // every checkpoint unverifiable (C2SP signed-note key names).
      pattern: /^[^\s+\p{Cc}]{1,1024}$/u,
      expected: "a checkpoint origin: 1 to 1024 characters, no spaces, '+' or control characters",
    }),
    max_batch: int({ help: "most appends sharing one commit", default: DEFAULT_MAX_BATCH, min: 1 }),
    max_pending: int({
      help: "appends queued before new ones get 503",
      default: DEFAULT_MAX_PENDING,
      min: 1,
    }),
    max_tx_entries: int({ help: "most entries GET /tx/{id} returns", default: 1000, min: 1 }),
    relay_url: url({ help: "relay base URL to publish audit.appended to" }),
    relay_token: str({
      help: "credential for the relay (publish:audit.appended), or file:PATH",
      secret: true,
      fileRef: true,
    }),
    relay_buffer: int({
      help: "audit.appended events buffered for the relay",
      default: 1000,
      min: 1,
    }),
    relay_timeout: relayTimeoutField(),
    relay_flush_timeout: relayFlushField(),
  },
  deprecated: {
    flags: { relay_url: "relay" },
    env: { relay_url: "IATP_AUDIT_RELAY" },
    keys: { relay_url: "relay" },
  },
  // The key file beside a SQLite ledger, created on first start unless one is named.
  grants: (c): PathGrant[] =>
    c.key_file || isPostgresUrl(c.db) ? [] : [{ path: `${c.db}.key`, access: "write" }],
  // The database password is read only for a PostgreSQL ledger.
  unreadFileRefs: (c) => isPostgresUrl(c.db) ? [] : ["db_password"],
});

/** The validated audit config. */
export type AuditConfig = Infer<typeof spec.spec.fields>;

/**
 * Starts the audit service.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), `relay_token` when its file cannot be read, `db` when the
 * PostgreSQL server cannot be reached (the URL without its password), or `key_file` when a
 * PostgreSQL ledger has no explicit signing key.
 */
export async function start(
  config: AuditConfig,
  deps: { log?: Logger; sources?: SourceMap } = {},
): Promise<Service> {
  const log = deps.log ?? serviceLogger("audit", config);
  // Keys, revocation files and protected mode are checked now; the verifier is built from them
  // with the routes, which load with the first request the app serves.
  const auth = meshAuthSettings(config, {
    command: "audit",
    host: config.host,
    hostSource: deps.sources?.get("host"),
    log,
  });
  const relayToken = resolveSecretSetting("relay_token", config.relay_token);
  const key = await signingKey(config, log);
  // The relay's client loads only when there is a relay to publish to.
  const relay = config.relay_url
    ? new (await lateImport<typeof import("../core/relay/client/mod.ts")>(
      "../core/relay/client/mod.ts",
      import.meta.url,
    )).RelayClient({
      url: config.relay_url,
      token: relayToken,
      log,
      bufferSize: config.relay_buffer,
      requestTimeoutMs: config.relay_timeout,
      flushTimeoutMs: config.relay_flush_timeout,
    })
    : undefined;
  const ledger = await openLedger(config, key, log, relay).catch(async (err) => {
    await relay?.close();
    throw await keyMismatch(config, err);
  });
  const server = createServer({
    service: "audit",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
    anyHost: auth.enabled || config.insecure,
    health: () => auditHealth(ledger, relay),
  });
  registerLedgerMetrics(server.metrics.registry, ledger);
  server.routes((app) =>
    registerAuditRoutes(app, ledger, {
      maxTxEntries: config.max_tx_entries,
      auth,
      compat: config.compat,
    })
  );
  const svc = await server.listen();
  return withShutdown(svc, async () => {
    await svc.close();
    await ledger.close();
    await relay?.close();
  });
}

/**
 * The log's signing key (its pair derived when first needed): a PostgreSQL ledger needs one named
 * explicitly (replicas share it).
 */
async function signingKey(config: AuditConfig, log: Logger): Promise<LedgerKey> {
  const pg = isPostgresUrl(config.db);
  if (pg && config.key_file === undefined && config.signing_key === undefined) {
    throw new ConfigError(
      "key_file",
      { kind: "default" },
      "the log's one signing key (key_file or signing_key) when db is a postgres:// URL",
      "neither",
    );
  }
  if (!pg) {
    requireRegularFile("db", config.db);
    warnOpenFolder(log, await ensureParentDir(config.db));
  }
  const keyFile = config.key_file ?? `${config.db}.key`;
  const seedBase64 = resolveSecretSetting("signing_key", config.signing_key);
  const existed = seedBase64 !== undefined ||
    await Deno.lstat(keyFile).then(() => true, () => false);
  const key = await loadSigningKey({ seedBase64, keyFile });
  if (!existed) createdKeyFiles.add(keyFile);
  return key;
}

/**
 * A log signed by another key than the configured one, told as a config error of the setting
 * that gave the key. A key file this start created (none was beside the ledger, say a ledger
 * copied without its key) is removed again, so that it cannot pass for the log's key. A log
 * started with another origin is told as a config error of `origin`.
 */
async function keyMismatch(config: AuditConfig, err: unknown): Promise<unknown> {
  if (err instanceof LedgerOriginMismatchError) {
    // A key file this start created goes again, as it does for a key mismatch.
    const keyFile = config.key_file ?? `${config.db}.key`;
    if (createdKeyFiles.has(keyFile)) await Deno.remove(keyFile).catch(() => {});
    return new ConfigError(
      "origin",
      { kind: "default" },
      `the log's origin, fixed at its first start (${JSON.stringify(err.storedOrigin)}), or none`,
      JSON.stringify(err.configured),
      { cause: err },
    );
  }
  if (!(err instanceof LedgerKeyMismatchError)) return err;
  const expected = `the key the ledger is signed with (${err.storedVkey})`;
  if (config.signing_key !== undefined) {
    return new ConfigError("signing_key", { kind: "default" }, expected, "another key", {
      cause: err,
    });
  }
  const keyFile = config.key_file ?? `${config.db}.key`;
  if (createdKeyFiles.has(keyFile)) {
    await Deno.remove(keyFile).catch(() => {});
    return new ConfigError(
      "key_file",
      { kind: "default" },
      `${expected}: its key file, which was not beside it`,
      `${keyFile}: no such file`,
      { cause: err },
    );
  }
  return new ConfigError("key_file", { kind: "default" }, expected, `${keyFile}: another key`, {
    cause: err,
  });
}

/** Key files {@linkcode signingKey} created in this process (none existed). */
const createdKeyFiles = new Set<string>();

async function openLedger(
  config: AuditConfig,
  key: LedgerKey,
  log: Logger,
  relay: RelayClient | undefined,
): Promise<AuditLog> {
  const common = {
    origin: config.origin,
    maxBatch: config.max_batch,
    maxPending: config.max_pending,
    log,
    onAppended: relay
      ? (e: Record<string, unknown>) => relay.publish("audit.appended", e)
      : undefined,
  };
  if (isPostgresUrl(config.db)) {
    // The PostgreSQL client (core/engine) loads only with a postgres:// db.
    const { checkPostgres, connectPostgres, passwordError, privilegeError } = await lateImport<
      typeof import("../core/engine/mod.ts")
    >("../core/engine/mod.ts", import.meta.url);
    const pg = await connectPostgres({
      url: config.db,
      setting: "db",
      password: resolveSecretSetting("db_password", config.db_password),
      maxConnections: config.db_max_connections,
      connectTimeoutSeconds: Math.ceil(config.db_connect_timeout / 1000),
      maxMessageBytes: config.db_max_message,
      targetSessionAttrs: "read-write",
      applicationName: "iatp-audit",
      // A statement the replica no longer waits for is ended by the server too (with the
      // writers' lock its transaction holds).
      statementTimeoutMs: config.commit_timeout,
    });
    try {
      await checkPostgres(pg, "db");
      const ledger = await openPgLedger({
        ...common,
        key: await key.pair(),
        pg,
        commitTimeoutMs: config.commit_timeout,
        maxRowBytes: config.db_max_message,
      });
      log.info("ledger open", { db: pg.label, tree_size: ledger.size, vkey: ledger.vkey });
      return ledger;
    } catch (err) {
      await pg.close(0);
      // Tables a newer release stamped: nothing was written to them.
      if (err instanceof NewerSchemaError) {
        throw newerSchemaError("db", { kind: "default" }, err, "a ledger database");
      }
      // A password given by db_password that the server refused is that setting's error.
      const refused = config.db_password === undefined
        ? err
        : passwordError(err, pg, "db_password");
      throw privilegeError(
        refused,
        pg,
        "db",
        "a database user that may create and write the ledger tables (CREATE on its schema)",
      );
    }
  }
  let store: LedgerStore;
  try {
    store = new LedgerStore(config.db);
  } catch (err) {
    throw await notALedger(config, err);
  }
  try {
    const ledger = await Ledger.open({ ...common, key, store });
    log.info("ledger open", { db: config.db, tree_size: ledger.size, vkey: ledger.vkey });
    return ledger;
  } catch (err) {
    store.close();
    throw err;
  }
}

/**
 * A SQLite ledger file that is no ledger (not a database, or another program's), told as a
 * config error of `db`; other errors as they are.
 */
async function notALedger(config: AuditConfig, err: unknown): Promise<unknown> {
  const why = errorMessage(err);
  if (!(err instanceof NotALedgerError) && !/file is not a database|file is encrypted/.test(why)) {
    return err;
  }
  // A key file this start created beside it goes again: it is no ledger's key.
  const keyFile = config.key_file ?? `${config.db}.key`;
  if (createdKeyFiles.has(keyFile)) await Deno.remove(keyFile).catch(() => {});
  return new ConfigError(
    "db",
    { kind: "default" },
    "a ledger file written by iatp audit, or a new or empty file",
    `${config.db}: ${why}`,
    { cause: err },
  );
}

const service = serviceCommand(spec, start);

/** The audit command: the service, or `verify` as a sub-verb. */
export const command = {
  ...service,
  verbs: { verify: verifySpec },
  run: (argv: string[]) =>
    argv[0] === "verify" ? verifyCommand.run(argv.slice(1)) : service.run(argv),
  grants: (argv: string[]) =>
    argv[0] === "verify" ? verifySpec.grants(argv.slice(1)) : spec.grants(argv),
};

// `deno run cmd/audit.ts ARGS` is `iatp audit ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("audit", command);
