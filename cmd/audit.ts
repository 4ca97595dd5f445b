/**
 * `iatp audit`: the tamper-evident ledger service (RFC 6962 Merkle log, C2SP checkpoints,
 * receipts) on SQLite, and `iatp audit verify` to check a ledger offline or live.
 * @module
 */
import { dirname } from "node:path";
import { meshAuthFields, meshAuthFor, resolveSecretSetting } from "../core/auth/mod.ts";
import { compatField } from "../core/compat/mod.ts";
import { DATA_DIR, defineConfig, type Infer, int, str, url } from "../core/config/mod.ts";
import {
  createServer,
  edgeOptions,
  type Service,
  serviceFields,
  withShutdown,
} from "../core/http/mod.ts";
import {
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_PENDING,
  Ledger,
  LedgerStore,
  loadSigningKey,
  registerAuditRoutes,
} from "../core/ledger/mod.ts";
import type { Logger } from "../core/log/mod.ts";
import { RelayClient } from "../core/relay/mod.ts";
import { verifyCommand } from "./audit/verify.ts";
import { serviceCommand, serviceLogger } from "./shared.ts";

/** The audit service's configuration. */
export const spec = defineConfig({
  command: "audit",
  summary: "Tamper-evident ledger: POST /audit (scope audit:append when auth_keys are set) " +
    "answers with a signed Merkle receipt once the entry is durable. Public reads: GET /tx/{id}, " +
    "/entries/{i}, /checkpoint, /proof/inclusion, /proof/consistency.",
  envPrefix: "IATP_AUDIT_",
  usageLines: ["verify (--db PATH | --url URL) [flags]   (see iatp audit verify --help)"],
  fields: {
    ...serviceFields(8003),
    ...meshAuthFields(),
    compat: compatField("IG&S audit service"),
    db: str({
      help: "SQLite ledger file (WAL, synchronous=FULL)",
      default: `${DATA_DIR}/audit.db`,
    }),
    key_file: str({ help: "Ed25519 seed file, created on first start (default <db>.key)" }),
    signing_key: str({ help: "base64 Ed25519 seed (overrides key_file)", secret: true }),
    origin: str({ help: "checkpoint origin line (default iatp-audit/<key id>)", minLength: 1 }),
    max_batch: int({ help: "most appends sharing one commit", default: DEFAULT_MAX_BATCH, min: 1 }),
    max_pending: int({
      help: "appends queued before new ones get 503",
      default: DEFAULT_MAX_PENDING,
      min: 1,
    }),
    max_tx_entries: int({ help: "most entries GET /tx/{id} returns", default: 1000, min: 1 }),
    relay: url({ help: "relay base URL to publish audit.appended to" }),
    relay_token: str({
      help: "credential for the relay (publish:audit.appended), or file:PATH",
      secret: true,
    }),
    relay_buffer: int({
      help: "audit.appended events buffered for the relay",
      default: 1000,
      min: 1,
    }),
  },
});

/** The validated audit config. */
export type AuditConfig = Infer<typeof spec.spec.fields>;

/**
 * Starts the audit service.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), or `relay_token` when its file cannot be read.
 */
export async function start(config: AuditConfig, deps: { log?: Logger } = {}): Promise<Service> {
  const log = deps.log ?? serviceLogger("audit", config);
  const auth = meshAuthFor(config, { command: "audit", host: config.host, log });
  const relayToken = resolveSecretSetting("relay_token", config.relay_token);
  await Deno.mkdir(dirname(config.db), { recursive: true });
  const key = await loadSigningKey({
    seedBase64: config.signing_key,
    keyFile: config.key_file ?? `${config.db}.key`,
  });
  const relay = config.relay
    ? new RelayClient({
      url: config.relay,
      token: relayToken,
      log,
      bufferSize: config.relay_buffer,
    })
    : undefined;
  const store = new LedgerStore(config.db);
  let ledger: Ledger;
  try {
    ledger = await Ledger.open({
      store,
      key,
      origin: config.origin,
      maxBatch: config.max_batch,
      maxPending: config.max_pending,
      log,
      onAppended: relay ? (e) => relay.publish("audit.appended", e) : undefined,
    });
  } catch (err) {
    store.close();
    throw err;
  }
  const server = createServer({
    service: "audit",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
    health: () => ({ status: "ok", service: "audit", tree_size: ledger.size }),
  });
  registerAuditRoutes(server.app, ledger, {
    maxTxEntries: config.max_tx_entries,
    auth,
    compat: config.compat,
  });
  const svc = await server.listen();
  log.info("ledger open", { db: config.db, tree_size: ledger.size, vkey: ledger.vkey });
  return withShutdown(svc, async () => {
    await svc.close();
    await ledger.close();
    await relay?.close();
  });
}

const service = serviceCommand(spec, start);

/** The audit command: the service, or `verify` as a sub-verb. */
export const command = {
  ...service,
  run: (argv: string[]) =>
    argv[0] === "verify" ? verifyCommand.run(argv.slice(1)) : service.run(argv),
};
