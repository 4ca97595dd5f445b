/**
 * Wires the status agent: host monitor and alerts, relay events, the dashboard link and the
 * Docker target (the compose-agent, or the socket itself in legacy mode only).
 * @module
 */
import { BODY_SIGNING_WARNING, tokenHealth, type TokenSource } from "../../core/auth/agent/mod.ts";
import { meshAuthSettings } from "../../core/auth/mesh/mod.ts";
import { DATA_DIR, ensureDir, lateImport, type SourceMap } from "../../core/config/mod.ts";
import { ConfigError, errorMessage } from "../../core/errors/mod.ts";
import { AlertEvaluator, HostSampler } from "../../core/host/mod.ts";
import { createServer, edgeOptions, type Service, serviceHealth } from "../../core/http/mod.ts";
import type { Logger } from "../../core/log/mod.ts";
import type { RelayClient } from "../../core/relay/client/mod.ts";
import { VERSION } from "../../core/version/mod.ts";
import { serviceLogger } from "../shared.ts";
import { isLegacy, plainBeyondLoopback, type StatusConfig } from "./config.ts";
import { openCredentials } from "./credentials.ts";
import {
  authUnavailable,
  CHECK_UNAVAILABLE,
  CommandRouter,
  DashboardLink,
  type DockerTarget,
  HostMonitor,
  legacyTarget,
  type LinkOptions,
  registerHostGauges,
  registerStatusRoutes,
  SIGNING_UNAVAILABLE,
  statusCommandCounter,
  statusReadGuard,
  STREAM_UNAVAILABLE,
} from "../../core/hostagent/mod.ts";

/** The legacy-mode warning, worded as upstream logs it. */
const LEGACY_WARNING = "compose_agent=false - running in legacy mode";

function thresholds(c: StatusConfig) {
  return {
    cpu: { warning: c.alert_cpu_warning, critical: c.alert_cpu_critical },
    memory: { warning: c.alert_memory_warning, critical: c.alert_memory_critical },
    disk: { warning: c.alert_disk_warning, critical: c.alert_disk_critical },
  };
}

/** The Docker target: the compose-agent, or the socket itself in legacy mode only. */
async function dockerTarget(
  config: StatusConfig,
  composeAgentKey: TokenSource,
  log: Logger,
): Promise<{ target: DockerTarget; close(): void }> {
  if (isLegacy(config)) {
    log.warn(LEGACY_WARNING, { docker_socket: config.docker_socket });
    return await legacyTarget({
      socket: config.docker_socket,
      projectsRoot: config.projects_root,
      workDir: config.work_dir,
    }, log);
  }
  // The socket is never opened here: Docker work goes to the compose-agent, signed with the
  // compose-agent's key (not this agent's dashboard token).
  if (composeAgentKey.current() === "") {
    log.warn(
      "no compose-agent key (IATP_STATUS_COMPOSE_AGENT_TOKEN): Docker commands will be refused",
    );
  }
  return {
    target: {
      kind: "compose_agent",
      url: config.compose_agent.url,
      identity: {
        agentId: config.agent_id || DEFAULT_AGENT_ID,
        token: composeAgentKey,
        signing: config.signing === "iatp" ? "iatp" : "upstream",
      },
      timeoutMs: config.compose_agent.timeout,
    },
    close: () => {},
  };
}

/** Agent id used when AGENT_ID is unset. */
const DEFAULT_AGENT_ID = "status-panel";

function capabilities(config: StatusConfig): Record<string, unknown> {
  const legacy = isLegacy(config);
  return {
    compose_agent: !legacy,
    control_plane: config.control_plane,
    version: VERSION,
    features: [
      "metrics",
      "metrics_stream",
      "alerts",
      ...(config.dashboard_url ? ["dashboard_link"] : []),
      legacy ? "docker_legacy" : "docker_via_compose_agent",
    ],
  };
}

function dashboardLink(
  dashboardUrl: string,
  config: StatusConfig,
  keys: { hmac: TokenSource; bearer?: TokenSource },
  router: CommandRouter,
  log: Logger,
  onResult: LinkOptions["onResult"],
): DashboardLink {
  return new DashboardLink({
    dashboardUrl,
    deploymentHash: config.deployment_hash ?? "",
    // Signed with the HMAC key; the bearer (if any) is the dashboard token, never that key.
    identity: {
      agentId: config.agent_id || DEFAULT_AGENT_ID,
      token: keys.hmac,
      bearer: keys.bearer,
      signing: config.signing === "iatp" ? "iatp" : "upstream",
    },
    router,
    pollTimeoutSecs: Math.round(config.polling_timeout / 1000),
    backoffMs: config.polling_backoff,
    reportAttempts: config.report_attempts,
    log,
    onResult,
  });
}

/** The upstream-mode warnings, logged at every start while the mode is on. */
const BEARER_KEY_WARNING = "signing compatibility mode: the agent token is sent as " +
  "Authorization: Bearer to the dashboard, as TryDirect's Stacker requires; anyone who " +
  "captures one request holds the signing key";

function warnSigning(config: StatusConfig, bearer: TokenSource | undefined, log: Logger): void {
  if (config.signing === "iatp") return;
  log.warn(BODY_SIGNING_WARNING, { signing: config.signing });
  if (config.dashboard_url && (bearer?.current() ?? "") === "") {
    log.warn(BEARER_KEY_WARNING, { dashboard_url: config.dashboard_url });
  }
}

/** The plain-HTTP dashboard warning, logged at every start while `dashboard_insecure_http` is used. */
const PLAIN_DASHBOARD_WARNING = "dashboard_insecure_http: the dashboard is polled over plain " +
  "HTTP beyond loopback; its answers are not signed, so anyone on the network path can send " +
  "commands this agent runs";

function warnPlainDashboard(config: StatusConfig, log: Logger): void {
  if (!config.dashboard_url || !config.dashboard_insecure_http) return;
  if (!plainBeyondLoopback(config.dashboard_url)) return;
  log.warn(PLAIN_DASHBOARD_WARNING, { dashboard_host: new URL(config.dashboard_url).host });
}

/**
 * The data folder is this agent's own (the default disk_path): made when missing. Any other
 * disk_path must exist; one that does not is a config error naming it, before anything starts.
 * @throws {ConfigError} naming `disk_path` when it is not an existing path
 */
async function checkDiskPath(path: string): Promise<void> {
  if (path === DATA_DIR) {
    await ensureDir(DATA_DIR);
    return;
  }
  try {
    await Deno.stat(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file or folder"
      : err instanceof Deno.errors.NotADirectory
      ? "a file stands where a folder on its path should be"
      : "not readable";
    throw new ConfigError(
      "disk_path",
      { kind: "default" },
      "an existing path (its filesystem is reported)",
      `${path}: ${why}`,
      { cause: err },
    );
  }
}

/** The /proc-format files a `proc_root` sample reads. */
const PROC_FILES = ["stat", "meminfo", "loadavg", "uptime"];

/**
 * A `proc_root` must hold the /proc-format files the sampler parses, readable: checked with one
 * sample before anything starts. This host's own /proc is refused (the runtime reads its files
 * only with every permission): the agent reads it through the system APIs when proc_root is unset.
 * @throws {ConfigError} naming `proc_root` when a sample from it fails
 */
function checkProcRoot(procRoot: string, diskPath: string): void {
  const found = (why: string, cause?: unknown) =>
    new ConfigError(
      "proc_root",
      { kind: "default" },
      `a folder of /proc-format files (${PROC_FILES.join(", ")}), such as a host's /proc ` +
        "mounted elsewhere (unset: this host's, through the system APIs)",
      `${procRoot}: ${why}`,
      { cause },
    );
  for (const name of ["", ...PROC_FILES]) {
    try {
      Deno.statSync(`${procRoot.replace(/\/+$/, "")}/${name}`);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) break; // the read below says why
      throw found(name === "" ? "no such folder" : `no ${name} in it`, err);
    }
  }
  try {
    new HostSampler({ procRoot, diskPath }).sample();
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      throw found("this host's own /proc, which the agent reads only through the system APIs", err);
    }
    throw found(`a sample from it failed (${errorMessage(err).split("\n")[0]})`, err);
  }
}

/**
 * Starts the status agent.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials and without `insecure` (protected mode), or a credential setting whose file cannot
 * be read, `disk_path` when it does not exist, or `proc_root` when it cannot be sampled.
 */
export async function start(
  config: StatusConfig,
  deps: { log?: Logger; sources?: SourceMap } = {},
): Promise<Service> {
  const log = deps.log ?? serviceLogger("status", config);
  // Keys, revocation files and protected mode are checked now; the verifier loads with the
  // first read that needs it (never with auth off).
  const guard = statusReadGuard(
    meshAuthSettings(config, {
      command: "status",
      host: config.host,
      hostSource: deps.sources?.get("host"),
      log,
    }),
  );
  await checkDiskPath(config.disk_path);
  if (config.proc_root) checkProcRoot(config.proc_root, config.disk_path);
  const creds = await openCredentials(config, log);
  warnSigning(config, creds.bearer, log);
  warnPlainDashboard(config, log);
  // The relay's client (about 31 KB of source) loads only when there is a relay to publish the
  // metrics and alerts to. A failed load fails the start (the key's refresh stops with it).
  const relay: RelayClient | undefined = config.relay_url
    ? new (await lateImport<typeof import("../../core/relay/client/mod.ts")>(
      "../../core/relay/client/mod.ts",
      import.meta.url,
    ).catch((err) => {
      creds.close();
      throw err;
    })).RelayClient({
      url: config.relay_url,
      token: creds.relayToken,
      log,
      requestTimeoutMs: config.relay_timeout,
      flushTimeoutMs: config.relay_flush_timeout,
    })
    : undefined;
  const ident = { agent_id: config.agent_id, deployment_hash: config.deployment_hash ?? "" };
  const monitor = new HostMonitor(
    new HostSampler({ procRoot: config.proc_root || undefined, diskPath: config.disk_path }),
    new AlertEvaluator(thresholds(config), config.alert_hysteresis_pct),
    (topic, payload) => relay?.publish(topic, payload),
    ident,
    log,
  );
  // In legacy mode the Docker Engine client and the executor load here: a failed load fails the
  // start, and stops the key's refresh with it (the relay's client holds nothing before its
  // first publish).
  const docker = await dockerTarget(config, creds.composeAgentKey, log).catch((err) => {
    creds.close();
    throw err;
  });
  const router = new CommandRouter(docker.target, () => monitor.latest(), log);
  /** True once a stream request found Hono's SSE helper unloadable. */
  let streamFailed = false;
  const server = createServer({
    service: "status",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
    anyHost: guard.enabled || config.insecure,
    health: () => {
      const facts = {
        ...router.metrics(),
        ...tokenHealth(creds.hmac),
        command_metrics: router.metrics(),
      };
      // Degraded, naming what could not be loaded (Deno keeps a failed import for the life of
      // the process: it needs a restart): the metrics stream's SSE helper (every stream answers
      // 503), or core/auth (no poll, report or forwarded command can be signed, so none is sent).
      const broken: Record<string, { ok: false; reason: string }> = {};
      if (streamFailed) broken.metrics_stream = { ok: false, reason: STREAM_UNAVAILABLE };
      if (authUnavailable()) broken.signing = { ok: false, reason: SIGNING_UNAVAILABLE };
      if (guard.unavailable) broken.credential_check = { ok: false, reason: CHECK_UNAVAILABLE };
      // Host events and command results held for a relay that does not take them, or refused
      // and dropped (a credential without the topic's scope).
      const published = relay?.publishHealth();
      if (published && !published.ok) broken.relay = { ok: false, reason: published.reason! };
      if (Object.keys(broken).length > 0) return serviceHealth("status", broken, facts);
      return { status: "ok", service: "status", ...facts };
    },
    // Upstream serves its metrics snapshot as JSON at /metrics. Both forms of /metrics hold the
    // host's figures (the text as iatp_host_* gauges): reads like the others, so with auth on
    // they need status:read.
    metricsJson: () => ({ ...monitor.latest() }),
    metricsCheck: guard.enabled ? guard.check : undefined,
  });
  const commands = statusCommandCounter(server.metrics.registry);
  registerHostGauges(server.metrics.registry, monitor);
  const { promise: drained, resolve: drainNow } = Promise.withResolvers<void>();
  server.onDrain(() => drainNow());
  server.routes((app) =>
    registerStatusRoutes(app, {
      monitor,
      read: guard.middleware,
      lapsed: guard.lapsed,
      maxStreamClients: config.max_stream_clients,
      drained,
      capabilities: () => capabilities(config),
      onStreamUnavailable: (err) => {
        if (!streamFailed) log.error("the metrics stream could not be loaded", { err });
        streamFailed = true;
      },
    })
  );
  const link = config.dashboard_url
    ? dashboardLink(config.dashboard_url, config, creds, router, log, (cmd, r) => {
      commands.inc({ type: cmd.type, executed_by: r.executed_by, status: r.status });
      relay?.publish("action.results", { ...ident, type: cmd.type, ...r });
    })
    : undefined;
  monitor.start(config.metrics_interval);
  const svc = await server.listen();
  link?.start();
  return {
    url: svc.url,
    failed: svc.failed,
    close: async () => {
      await link?.close();
      await svc.close();
      monitor.stop();
      docker.close();
      creds.close();
      await relay?.close();
    },
  };
}
