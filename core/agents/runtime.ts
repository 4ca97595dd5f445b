/**
 * What both agents share at run time, wired from their config: logger, directory layout, state
 * database, audit trail (local, and the audit service when configured), orchestrator client,
 * heartbeat loop, relay client and the health server. `close()` stops them in the safe order:
 * heartbeat `offline` first, the state database last.
 * @module
 */
import { resolveSecretSetting } from "../auth/settings/mod.ts";
import {
  fileInUseError,
  joinPath,
  lateImport,
  parentDir,
  permittedEnv,
  readTextWithin,
  requireRegularFile,
} from "../config/mod.ts";
import type { AuditClient } from "../ledger/client/mod.ts";
import { ConfigError, errorMessage, FileInUseError } from "../errors/mod.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import { edgeOptions } from "../http/mod.ts";
import { RelayClient } from "../relay/client/mod.ts";
import { AuditTrail } from "./audit_trail.ts";
import type { AgentConfig } from "./config.ts";
import { type ComponentHealth, createHealthServer, type HealthServer } from "./health.ts";
import { HeartbeatLoop } from "./heartbeat.ts";
import { type AgentLayout, defaultBaseFolder, ensureLayout } from "./layout.ts";
import { type AgentMetrics, createAgentMetrics } from "./metrics.ts";
import type { OrchestratorClient } from "./orchestrator.ts";
import { AgentState } from "./state.ts";

/**
 * The orchestrator's client and the audit service's, imported by a computed specifier (core/config's
 * `lateImport`) where they are configured: an agent without them never loads them.
 */
type Orchestrator = typeof import("./orchestrator.ts");
type LedgerClient = typeof import("../ledger/client/mod.ts");

/** Dependencies a caller may inject (`iatp up`, tests). */
export interface AgentDeps {
  log?: Logger;
}

/** The shared pieces of a running agent. */
export interface AgentRuntime {
  kind: "sensor" | "action";
  agentId: string;
  log: Logger;
  layout: AgentLayout;
  state: AgentState;
  metrics: AgentMetrics;
  orchestrator?: OrchestratorClient;
  heartbeat?: HeartbeatLoop;
  relay?: RelayClient;
  health: HealthServer;
  /** Health contributions by component name; agents add theirs before listening. */
  components: Map<string, () => ComponentHealth>;
  /** Appends to the audit trail (a no-op when auditing is off). Never throws. */
  audit(event: string, data: Record<string, unknown>, txId?: string): Promise<void>;
  /** Stops shared pieces (heartbeat offline, relay flush, audit flush, state close). */
  close(): Promise<void>;
}

/** An agent config whose `agent.id` is set (the config check requires one). */
type IdentifiedConfig = AgentConfig & { agent: AgentConfig["agent"] & { id: string } };

/**
 * `config`, its agent id known to be set.
 * @throws {ConfigError} naming `agent.id` when it is not (a config that skipped its check)
 */
function identified(config: AgentConfig): IdentifiedConfig {
  const id = config.agent.id;
  if (!id) throw new ConfigError("agent.id", { kind: "default" }, "an agent id", "nothing");
  return { ...config, agent: { ...config.agent, id } };
}

function agentLogger(kind: string, config: IdentifiedConfig, deps: AgentDeps): Logger {
  // serviceCommand builds its logger from a top-level log_level the Stavily schema does not
  // have; honour logging.level by making our own logger when the injected one differs.
  const base = deps.log && deps.log.level === config.logging.level
    ? deps.log
    : createLogger({ service: kind, level: config.logging.level });
  return base.child({ agent_id: config.agent.id });
}

async function readPem(path: string | undefined): Promise<string | undefined> {
  return path ? await readTextWithin(path) : undefined;
}

async function orchestratorClient(
  config: IdentifiedConfig,
  log: Logger,
  metrics: AgentMetrics,
): Promise<OrchestratorClient | undefined> {
  const api = config.api;
  if (!api.base_url) return undefined;
  const tls = config.security.tls;
  if (tls.min_version === "1.3") {
    log.warn("security.tls.min_version 1.3 is not enforced: Deno's TLS stack offers 1.2 and 1.3");
  }
  // TLS files mean nothing to a plain-http orchestrator, nor with TLS switched off (Stavily's
  // own client never read them): they are not opened then.
  const useTls = api.base_url.startsWith("https:") && tls.enabled !== false;
  if (!useTls && (tls.cert_file || tls.ca_file)) {
    log.warn("security.tls files are not used: the orchestrator is not reached over TLS");
  }
  const ca = useTls ? await readPem(tls.ca_file) : undefined;
  const { OrchestratorClient } = await lateImport<Orchestrator>(
    "./orchestrator.ts",
    import.meta.url,
  );
  return new OrchestratorClient({
    baseUrl: api.base_url,
    agentId: config.agent.id,
    timeoutMs: api.timeout,
    retryAttempts: api.retry_attempts,
    retryDelayMs: api.retry_delay,
    retryMaxDelayMs: api.retry_max_delay,
    rateLimitRps: api.rate_limit_rps,
    rateLimitBurst: api.rate_limit_burst,
    maxResponseBytes: api.max_response_bytes,
    apiKey: config.security.auth.token_file
      ? undefined
      : resolveSecretSetting("security.auth.api_key", config.security.auth.api_key),
    tokenFile: config.security.auth.token_file,
    tls: useTls
      ? {
        cert: await readPem(tls.cert_file),
        key: await readPem(tls.key_file),
        caCerts: ca ? [ca] : [],
      }
      : undefined,
    log,
    userAgent: api.user_agent,
    tenantId: config.agent.tenant_id,
    onAttempt: (call, outcome) => metrics.orchestrator.inc({ call, outcome }),
  });
}

async function openAudit(
  kind: string,
  config: IdentifiedConfig,
  layout: AgentLayout,
  log: Logger,
): Promise<{ trail?: AuditTrail; client?: AuditClient }> {
  const a = config.security.audit;
  if (!a.enabled) return {};
  let client: AuditClient | undefined;
  if (a.service_url) {
    const token = resolveSecretSetting("security.audit.token", a.token);
    const ledger = await lateImport<LedgerClient>("../ledger/client/mod.ts", import.meta.url);
    client = new ledger.AuditClient({
      url: a.service_url,
      token,
      log,
      timeoutMs: a.timeout,
      flushTimeoutMs: a.flush_timeout,
    });
  }
  const trail = await AuditTrail.open({
    file: await auditFile(a.log_file, layout, log),
    agentId: config.agent.id,
    maxFileBytes: a.max_file_bytes,
    maxFiles: a.max_files,
    lockTimeoutMs: a.lock_timeout,
    log,
    forward: client
      ? (rec, txId) => {
        client.enqueue({
          tx_id: txId,
          event: `agent.${rec.event}`,
          actor: `${kind}:${rec.agent_id}`,
          payload: { seq: rec.seq, hash: rec.hash, data: rec.data },
        }, { idempotencyKey: `${rec.agent_id}:${rec.hash}` });
      }
      : undefined,
  });
  return { trail, client };
}

/**
 * Where the audit trail goes: a relative `log_file` lives under `<base>/logs/audit` (as the
 * Stavily agents place it); an absolute one whose folder does not exist falls back to the
 * default there, with a warning: the agent never creates folders outside its base folder.
 */
async function auditFile(logFile: string, layout: AgentLayout, log: Logger): Promise<string> {
  // A pipe (FIFO) held the agent: opening it to append waits, on the agent's thread, for a
  // reader that may never come (at start and in every /health probe).
  const regular = (file: string) => {
    requireRegularFile("security.audit.log_file", file);
    return file;
  };
  const fallback = joinPath(layout.audit, "audit.jsonl");
  if (!logFile) return regular(fallback);
  if (!logFile.startsWith("/")) return regular(joinPath(layout.audit, logFile));
  try {
    if ((await Deno.stat(parentDir(logFile))).isDirectory) return regular(logFile);
  } catch { /* missing: fall back */ }
  log.warn("security.audit.log_file folder does not exist; writing under the base folder", {
    file: fallback,
  });
  return regular(fallback);
}

/**
 * Warns at start when `plugins.directory` names no folder: it is only one more place plugins are
 * looked up (Stavily files name folders that may not exist on this machine), so the agent runs,
 * but a plugin expected from there would otherwise fail later as "not found" with no hint why.
 */
function checkPluginsDirectory(dir: string, log: Logger): void {
  if (!dir) return;
  let why: string | undefined;
  try {
    if (!Deno.statSync(dir).isDirectory) why = "not a folder";
  } catch (err) {
    why = err instanceof Deno.errors.NotFound ? "no such folder" : errorMessage(err);
  }
  if (why === undefined) return;
  log.warn(
    `plugins.directory is not searched (${why}): plugins come from the installed and built-in ` +
      "folders only",
    { directory: dir },
  );
}

/**
 * Takes the state database's writer lock: one action agent per base folder, or sensors sharing
 * it (`shared`; see {@linkcode AgentState.lock}).
 * @throws {ConfigError} naming `agent.base_folder` when another process writes its state
 */
function lockState(state: AgentState, shared: boolean): void {
  try {
    state.lock(shared);
  } catch (err) {
    if (!(err instanceof FileInUseError)) throw err;
    // The command puts the setting's true source in (its default is computed).
    throw fileInUseError("agent.base_folder", { kind: "default" }, err);
  }
}

/** What SQLite says of a file that is not a (whole) database. */
const DAMAGED_DATABASE = /^(file is not a database|database disk image is malformed)/;
/** What SQLite says of a database whose tables are not the agent's (another program's file). */
const FOREIGN_DATABASE = /^(no such (table|column)|table \S+ has no column named)/;
/** What SQLite says when another process holds the database's lock past the busy timeout. */
const LOCKED_DATABASE = /^database is (locked|busy)/;

/**
 * Rethrows a failure to resume the state database of an earlier run at start (its open, or the
 * writes that report what it left running): one SQLite finds damaged (cut short, overwritten),
 * holding another program's tables, or locked by another process as a ConfigError naming
 * `agent.base_folder`, the file and the cause; the file is not removed (it may hold results not
 * yet reported). Any other failure as it is.
 * @example
 * ```ts
 * await state.open().catch((err) => stateStartFailure(err, state.file));
 * ```
 */
export function stateStartFailure(err: unknown, file: string): never {
  if (!(err instanceof Error)) throw err;
  const cause = err.message.split("\n")[0].replace(/ in\s*$/, "");
  const expected = DAMAGED_DATABASE.test(cause)
    ? "a state database SQLite can read (move a damaged one aside to start afresh: what it held is then not resumed or reported)"
    : FOREIGN_DATABASE.test(cause)
    ? "an action agent's state database (this one holds other tables: move it aside to start afresh)"
    : LOCKED_DATABASE.test(cause)
    ? "a state database no other process holds locked (end the one that does, such as a sqlite3 shell)"
    : undefined;
  if (expected === undefined) throw err;
  // The command puts the setting's true source in (its default is computed).
  throw new ConfigError("agent.base_folder", { kind: "default" }, expected, `${file}: ${cause}`, {
    cause: err,
  });
}

/** Builds the shared runtime (the health server is created, not yet listening). */
export async function createRuntime(
  kind: "sensor" | "action",
  unchecked: AgentConfig,
  deps: AgentDeps = {},
  extra: { dedupMaxEntries?: number; openStateAtStart?: boolean; sharedState?: boolean } = {},
): Promise<AgentRuntime> {
  const config = identified(unchecked);
  const log = agentLogger(kind, config, deps);
  checkPluginsDirectory(config.plugins.directory, log);
  // Read before anything is opened: an unreadable file:PATH is a config error, not a leak.
  const relayToken = resolveSecretSetting("relay.token", config.relay.token);
  const base = config.agent.base_folder || defaultBaseFolder(kind, permittedEnv("IATP_DATA_DIR"));
  const layout = await ensureLayout(base).catch((err) => {
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a permission
    // The command puts the setting's true source in (its default is computed, so never matched
    // by path).
    throw new ConfigError(
      "agent.base_folder",
      { kind: "default" },
      "a folder iatp can create and write",
      `${base}: ${errorMessage(err)}`,
      { cause: err },
    );
  });
  const state = new AgentState(layout.state, {
    history: config.agent.completed_history,
    dedupMaxEntries: extra.dedupMaxEntries,
    busyTimeoutMs: config.agent.state_busy_timeout,
  });
  // State of an earlier run is opened now when the agent resumes it at start; a first run opens
  // (creates) the database with the first write, so an idle agent never loads node:sqlite.
  const resume = extra.openStateAtStart && state.exists();
  lockState(state, extra.sharedState ?? false);
  // A start that fails from here lets the state's lock go (an in-process start may try again).
  const releasing = <T>(step: Promise<T>): Promise<T> =>
    step.catch((err) => {
      state.close();
      throw err;
    });
  if (resume) await releasing(state.open().catch((err) => stateStartFailure(err, state.file)));
  const components = new Map<string, () => ComponentHealth>();
  const health = createHealthServer({
    service: kind,
    agentId: config.agent.id,
    host: config.health.host,
    port: config.health.port,
    healthPath: config.health.path,
    edge: edgeOptions(config.health),
    metrics: {
      enabled: config.metrics.enabled,
      path: config.metrics.path,
      port: config.metrics.port,
    },
    log,
    components: () => Object.fromEntries([...components].map(([k, f]) => [k, f()])),
  });
  const metrics = createAgentMetrics(health.server.metrics.registry);
  const { trail, client: auditClient } = await releasing(openAudit(kind, config, layout, log));
  const orchestrator = await releasing(orchestratorClient(config, log, metrics));
  const heartbeat = orchestrator
    ? new HeartbeatLoop(orchestrator, config.agent.heartbeat, log, metrics)
    : undefined;
  const relay = config.relay.url
    ? new RelayClient({
      url: config.relay.url,
      token: relayToken,
      log,
      bufferSize: config.relay.buffer_size,
      requestTimeoutMs: config.relay.timeout,
      flushTimeoutMs: config.relay.flush_timeout,
      // Only the action agent subscribes (its tasks).
      idleTimeoutMs: (config.relay as { idle_timeout?: number }).idle_timeout,
    })
    : undefined;
  // A trail that cannot be written (full or read-only disk) makes the agent degraded.
  components.set("audit", () => trail?.health() ?? { ok: true, configured: false });
  components.set("state", () => state.health());
  components.set(
    "orchestrator",
    () => heartbeat ? { configured: true, ...heartbeat.status() } : { ok: true, configured: false },
  );

  let closing: Promise<void> | undefined;
  return {
    kind,
    agentId: config.agent.id,
    log,
    layout,
    state,
    metrics,
    orchestrator,
    heartbeat,
    relay,
    health,
    components,
    audit: async (event, data, txId) => {
      await trail?.append(event, data, txId);
    },
    close: () =>
      closing ??= (async () => {
        await heartbeat?.stop();
        orchestrator?.close();
        await relay?.close().catch((err) => log.warn("relay close failed", { err }));
        await trail?.flush();
        await auditClient?.close().catch((err) => log.warn("audit client close failed", { err }));
        state.close();
      })(),
  };
}
