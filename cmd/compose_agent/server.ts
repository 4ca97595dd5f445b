/**
 * Wires the compose-agent: token source, Docker client, watchdog and relay events at start; the replay store (SQLite), the executor and the signed command routes with the first
 * request the router serves (they load node:sqlite, core/auth's verifier, the command parsers,
 * the compose runner and the compose file check; the start reads its key and defaults with core/auth/agent). The replay store is a file: a restart opens what the last run recorded.
 * @module
 */
import { didYouMean, ensureParentDir, lateImport, lockWriter } from "../../core/config/mod.ts";
import type { Counter } from "../../core/metrics/mod.ts";
import { BODY_SIGNING_WARNING, tokenHealth, type TokenSource } from "../../core/auth/agent/mod.ts";
import type { ReplayStore } from "../../core/auth/mod.ts";
import { resolveSecretSetting } from "../../core/auth/settings/mod.ts";
import { onceUntilFailure } from "../../core/async/mod.ts";
import {
  CommandCounters,
  DOCKER_COMMANDS,
  DockerEngine,
  scopeFor,
  Watchdog,
  type WatchdogEvent,
} from "../../core/docker/mod.ts";
import type { DockerExecutor } from "../../core/docker/executor/mod.ts";
import { createServer, edgeOptions, type Service } from "../../core/http/mod.ts";
import { ConfigError, errorMessage, HttpError } from "../../core/errors/mod.ts";
import type { Logger } from "../../core/log/mod.ts";
import type { RelayClient } from "../../core/relay/client/mod.ts";
import { serviceLogger, warnOpenFolder } from "../shared.ts";
import {
  agentTokenSource,
  CommandQueue,
  composeAgentCounters,
  DIAGNOSTICS_PATH,
  probeDocker,
  registerCommandRoutes,
  type RouteDeps,
  watchdogSink,
} from "../../core/hostagent/mod.ts";
import type { ComposeAgentConfig } from "./config.ts";

/** The executor module, loaded with the command routes. */
type Executor = typeof import("../../core/docker/executor/mod.ts");
/** core/auth (the signed-request guard, its limiter and replay store), loaded with the routes. */
type Auth = typeof import("../../core/auth/mod.ts");
const loadAuth = onceUntilFailure(() =>
  lateImport<Auth>("../../core/auth/mod.ts", import.meta.url)
);

function buildWatchdog(
  config: ComposeAgentConfig,
  engine: DockerEngine,
  log: Logger,
  hooks: { onEvent: (e: WatchdogEvent) => void; onPass: () => void },
): Watchdog | undefined {
  const w = config.watchdog;
  if (!w.enabled || (w.containers.length === 0 && !w.label)) return undefined;
  return new Watchdog({
    engine,
    names: w.containers,
    label: w.label || undefined,
    checkIntervalMs: w.check_interval,
    backoffBaseMs: w.backoff_base,
    backoffFactor: w.backoff_factor,
    maxAttempts: w.max_attempts,
    cooldownMs: w.cooldown,
    startPeriodMs: w.start_period,
    stableAfterMs: w.stable_after,
    ...hooks,
    log: log.child({ component: "watchdog" }),
  });
}

/** What a request gets, and `/health` names, when the command API cannot be loaded. */
const COMMAND_API_UNAVAILABLE = "the command API could not be loaded";

/** The command executor on the agent's engine (its module loads here, with the routes). */
async function openExecutor(
  config: ComposeAgentConfig,
  engine: DockerEngine,
  log: Logger,
): Promise<DockerExecutor> {
  const { ComposeRunner, DeployPolicy, DockerExecutor } = await lateImport<Executor>(
    "../../core/docker/executor/mod.ts",
    import.meta.url,
  );
  const compose = new ComposeRunner({
    socket: config.docker_socket,
    engine,
    prefer: config.compose,
  });
  return new DockerExecutor({
    engine,
    compose,
    executedBy: "compose_agent",
    paths: { projectsRoot: config.projects_root, workDir: config.work_dir },
    commandTimeoutMs: config.command_timeout,
    deployTimeoutMs: config.deploy_timeout,
    maxLogBytes: config.max_log_bytes,
    maxComposeFileBytes: config.max_compose_file_bytes,
    deployPolicy: new DeployPolicy({
      privileged: config.deploy_allow.privileged,
      hostNamespaces: config.deploy_allow.host_namespaces,
      capAdd: config.deploy_allow.cap_add.map((c) => c.toUpperCase().replace(/^CAP_/, "")),
      devices: config.deploy_allow.devices,
      securityOpt: config.deploy_allow.security_opt,
      bindRoots: config.deploy_allow.bind_roots,
      providers: config.deploy_allow.providers,
      logDrivers: config.deploy_allow.log_drivers,
      volumes: config.deploy_allow.volumes,
      networks: config.deploy_allow.networks,
    }),
    log,
    deploymentHash: config.deployment_hash,
  });
}

async function openReplay(config: ComposeAgentConfig): Promise<ReplayStore> {
  const { openReplayStore } = await loadAuth();
  return await openReplayStore({
    path: config.replay_db,
    ttlMs: config.replay_ttl,
    maxEntries: config.replay_max_entries,
  });
}

/**
 * The key signatures are verified with (AGENT_TOKEN, its file, or Vault).
 * @throws {ConfigError} naming `agent_token` when it resolves to nothing without Vault.
 */
async function verifyingKey(config: ComposeAgentConfig, log: Logger): Promise<TokenSource> {
  const token = await agentTokenSource(config, log);
  if (token.current() !== "" || config.vault.address) return token;
  token.close();
  throw new ConfigError(
    "agent_token",
    { kind: "default" }, // the command puts the true source in
    "a non-empty HMAC key (the value, or a file:PATH holding it)",
    "an empty value",
  );
}

/** The signed-request middleware of the command API. */
function authFor(
  { signedAuth, Scopes, RateLimiter }: Auth,
  config: ComposeAgentConfig,
  token: TokenSource,
  replay: ReplayStore,
  log: Logger,
  rejected: Counter<"reason">,
) {
  const auth = signedAuth({
    token,
    allowedAgents: config.allowed_agents,
    mode: config.signing,
    selfAgentId: config.agent_id,
    scopes: new Scopes(config.scopes),
    replay,
    limiter: new RateLimiter(config.rate_limit_per_min),
    maxSkewSecs: config.signature_max_skew / 1000,
    log,
    onReject: (reason) => rejected.inc({ reason }),
  });
  return ((c, next) =>
    c.req.method === "GET" && c.req.path === DIAGNOSTICS_PATH
      ? next()
      : auth(c, next)) as typeof auth;
}

/** Every scope a route of the compose-agent asks for. */
const KNOWN_SCOPES: readonly string[] = [
  ...DOCKER_COMMANDS.map(scopeFor),
  "commands:execute",
  "commands:enqueue",
  "commands:wait",
  "commands:report",
];

/**
 * Logs each configured scope that grants nothing this agent does (a typo such as
 * `docker:restrat`, or a command iatp does not run): scopes are deny-by-default, so it would
 * leave its callers refused with no word at start.
 */
function warnUnknownScopes(scopes: readonly string[], log: Logger): void {
  for (const raw of scopes) {
    const scope = raw.trim();
    if (scope === "" || scope === "*") continue;
    const grants = scope.endsWith(":*")
      ? KNOWN_SCOPES.some((k) => k.startsWith(scope.slice(0, -1)))
      : KNOWN_SCOPES.includes(scope);
    if (grants) continue;
    const guess = didYouMean(scope, KNOWN_SCOPES);
    log.warn("scopes: an entry grants no command of this agent", {
      scope,
      ...(guess ? { did_you_mean: guess } : {}),
    });
  }
}

/**
 * Logs the start-up warnings of the signing compatibility mode (every start, while it is on).
 */
function warnSigningMode(
  config: { signing: string; agent_id: string; scopes: string[] },
  log: Logger,
): void {
  if (config.signing === "iatp") return;
  log.warn(BODY_SIGNING_WARNING, { signing: config.signing });
  if (!config.agent_id) {
    log.warn("signing compatibility mode without AGENT_ID: every signed request is refused");
  }
  if (config.scopes.length === 0) {
    log.warn("AGENT_SCOPES is empty: nothing is allowed (upstream allowed everything)");
  }
}

/** Starts the compose-agent. */
export async function start(
  config: ComposeAgentConfig,
  deps: { log?: Logger } = {},
): Promise<Service> {
  const log = deps.log ?? serviceLogger("compose-agent", config);
  const relayToken = resolveSecretSetting("relay_token", config.relay_token);
  const token = await verifyingKey(config, log);
  // The replay store's folder is made (and checked writable) now, and its file's writer lock is
  // taken (a second agent on the same file would forget what the first one remembers); the
  // store opens later.
  let replayLock: Deno.FsFile | undefined;
  try {
    if (config.replay_db !== ":memory:") {
      warnOpenFolder(log, await ensureParentDir(config.replay_db));
    }
    replayLock = lockWriter(config.replay_db);
  } catch (err) {
    token.close();
    throw err;
  }
  const engine = new DockerEngine({ socket: config.docker_socket });
  // Opened with the first request the router serves (the signed API), once; a failed open is
  // tried again by the next request, and a close meanwhile closes what it opened.
  let replay: ReplayStore | undefined;
  // The last open that failed, shown on /health (degraded) until an open works.
  let replayFailedAt: string | undefined;
  let closed = false;
  /** True once the command API (guard, parsers, executor) could not be loaded. */
  let commandApiFailed = false;
  const replayStore = async (): Promise<ReplayStore> => {
    if (replay) return replay;
    const opened = await openReplay(config).catch((err) => {
      replayFailedAt = new Date().toISOString();
      log.warn("replay store cannot be opened", { err: errorMessage(err) });
      throw new HttpError(503, "replay store unavailable; retry later", {
        reason: "replay_unavailable",
      }, { cause: err });
    });
    if (closed) {
      opened.close();
      throw new Error("the compose-agent is stopping");
    }
    replayFailedAt = undefined;
    return replay = opened;
  };
  // The relay's client loads only when there is a relay to publish the watchdog's events to.
  // A failed load fails the start (the key's refresh stops with it).
  const relay: RelayClient | undefined = config.relay_url
    ? new (await lateImport<typeof import("../../core/relay/client/mod.ts")>(
      "../../core/relay/client/mod.ts",
      import.meta.url,
    ).catch((err) => {
      token.close();
      replayLock?.close();
      throw err;
    })).RelayClient({
      url: config.relay_url,
      token: relayToken,
      log,
      requestTimeoutMs: config.relay_timeout,
      flushTimeoutMs: config.relay_flush_timeout,
    })
    : undefined;
  warnSigningMode(config, log);
  warnUnknownScopes(config.scopes, log);
  const queue = new CommandQueue(config.queue_size, config.report_history);
  const counters = new CommandCounters();
  const ident = { agent_id: config.agent_id, deployment_hash: config.deployment_hash ?? "" };
  const probe = await probeDocker(engine, config.docker_socket, log);
  const server = createServer({
    service: "compose-agent",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
    // Every command needs a request signed with agent_token (or the Vault key): never open.
    anyHost: true,
    health: () => {
      // Watchdog events held for a relay that does not take them, or refused and dropped (a
      // relay_token without publish:status.watchdog).
      const published = relay?.publishHealth();
      return {
        status: probe.state.ok && !replayFailedAt && !commandApiFailed && token.current() !== "" &&
            published?.ok !== false
          ? "ok"
          : "degraded",
        service: "compose-agent",
        docker: probe.state.ok ? "reachable" : "unreachable",
        docker_socket: config.docker_socket,
        // Opened with the first signed request; one that could not open refuses every command.
        replay_store: replay ? "open" : replayFailedAt ? "unavailable" : "not opened",
        ...(replayFailedAt && !replay ? { replay_store_failed_at: replayFailedAt } : {}),
        // Loaded with the first request the router serves; one that could not be loaded needs a
        // restart.
        ...(commandApiFailed ? { command_api: "unavailable" } : {}),
        queue_length: queue.length,
        watchdog: watchdog ? "running" : "off",
        // No key yet (Vault unreachable, or its key refused): every signed request is refused.
        agent_key: token.current() !== "" ? "present" : "missing",
        ...tokenHealth(token),
        relay: !published ? "off" : published.ok ? "ok" : "failing",
        ...(published?.ok === false ? { relay_error: published.reason } : {}),
        command_metrics: counters.snapshot(),
      };
    },
  });
  const metrics = composeAgentCounters(server.metrics.registry);
  const watchdog = buildWatchdog(
    config,
    engine,
    log,
    {
      onEvent: watchdogSink(
        metrics.watchdog,
        relay && ((topic, payload) => relay.publish(topic, payload)),
        ident,
      ),
      onPass: () => metrics.watchdogPasses.inc(),
    },
  );
  const routes: Omit<RouteDeps, "executor"> = {
    queue,
    watchdog,
    deploymentHash: config.deployment_hash ?? "",
    maxWaitMs: config.max_wait,
    draining: () => server.draining,
    counters,
    onResult: (cmd, r) => {
      metrics.commands.inc({ type: cmd.type, status: r.status });
      log.info("command", { command_id: cmd.command_id, type: cmd.type, status: r.status });
    },
  };
  server.routes(async (app) => {
    // A replay store that cannot be opened answers its own 503 (and the next request retries).
    const store = await replayStore();
    try {
      const guard = authFor(await loadAuth(), config, token, store, log, metrics.rejected);
      app.use("/api/v1/*", guard);
      await registerCommandRoutes(app, {
        ...routes,
        executor: await openExecutor(config, engine, log),
      });
    } catch (err) {
      // Nothing of the API is served (the app is not built): every request gets a clear 503,
      // and /health says so (Deno keeps a failed import for the life of the process).
      if (!commandApiFailed) log.error("the command API could not be loaded", { err });
      commandApiFailed = true;
      throw new HttpError(503, COMMAND_API_UNAVAILABLE, {}, { cause: err });
    }
    commandApiFailed = false;
  });
  server.onDrain(() => queue.releaseAll());
  const svc = await server.listen().catch(async (err) => {
    // A port in use: what the start took is let go (an in-process start may try again).
    probe.stop();
    token.close();
    replayLock?.close();
    await relay?.close();
    throw err;
  });
  watchdog?.start();
  return {
    url: svc.url,
    failed: svc.failed,
    close: async () => {
      probe.stop();
      await svc.close();
      // The queue lives in memory: what no poller took goes with the process, said once here.
      if (queue.length > 0) {
        log.warn("queued commands no poller took are dropped with the stop", {
          count: queue.length,
        });
      }
      await watchdog?.close();
      token.close();
      closed = true;
      replay?.close();
      replayLock?.close();
      engine.close();
      await relay?.close();
    },
  };
}
