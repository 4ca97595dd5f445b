/**
 * `iatp policy`: Cedar decisions for access intents over HTTP, with hot reload, and (with
 * `--relay-url`) the exactly-once decision loop on `access.intent` -> `access.decision` + ledger.
 * @module
 */
import { ensureParentDir, requireRegularFile } from "../core/config/mod.ts";
import { fileURLToPath } from "node:url";
import { meshAuthFields, meshAuthFor, resolveSecretSetting } from "../core/auth/mod.ts";
import { compatField } from "../core/compat/mod.ts";
import {
  DATA_DIR,
  defineConfig,
  duration,
  type Infer,
  int,
  path,
  section,
  type SourceMap,
  str,
  url,
} from "../core/config/mod.ts";
import { ConfigError, errorMessage } from "../core/errors/mod.ts";
import {
  createServer,
  edgeOptions,
  type Service,
  serviceFields,
  withShutdown,
} from "../core/http/mod.ts";
import { AuditClient } from "../core/ledger/client/mod.ts";
import { auditFlushField, auditTimeoutField } from "../core/ledger/client/settings/mod.ts";
import { relayIdleField, relayTimeoutField } from "../core/relay/client/settings/mod.ts";
import type { Logger } from "../core/log/mod.ts";
import { Counter } from "../core/metrics/mod.ts";
import { type NatsEngine, natsFields } from "../core/nats/mod.ts";
import {
  type BundleLimits,
  createSharedBridge,
  type Decision,
  DecisionBridge,
  type DecisionState,
  DEFAULT_MAX_DECIDED,
  DEFAULT_MAX_POLICIES,
  DEFAULT_RELOAD_INTERVAL_MS,
  loadBundle,
  openDecisionState,
  PolicyBundleError,
  PolicyEngine,
  policyHealth,
  PolicyReloader,
  registerPolicyRoutes,
  type SharedBridgeOptions,
  type SharedDecisionBridge,
  UPSTREAM_MISSING_RISK,
} from "../core/policy/mod.ts";
import { RelayClient } from "../core/relay/client/mod.ts";
import { connectEngine } from "./engine.ts";
import { serviceCommand, serviceLogger, warnOpenFolder } from "./shared.ts";
import { runAsEntry } from "./run.ts";

/** The built-in bundle (the seed rule), shipped as files beside core/policy. */
export const DEFAULT_POLICY_DIR = fileURLToPath(
  new URL("../core/policy/default/", import.meta.url),
);

/** The policy service's configuration. */
export const spec = defineConfig({
  command: "policy",
  summary: "Cedar decisions: POST /evaluate (intent -> decision), GET /policies (both need scope " +
    "policy:evaluate when auth_keys are set). With --relay-url, decides every access.intent " +
    "exactly once and publishes access.decision.",
  fields: {
    ...serviceFields(8002),
    ...meshAuthFields(),
    compat: compatField("IG&S policy service"),
    policies: path({
      help: "bundle directory (*.cedar, optional *.cedarschema and entities.json)",
      default: DEFAULT_POLICY_DIR,
      access: "read",
    }),
    max_policies: int({
      help: "most policies in the bundle, all files together (Cedar reads about 500 a second, " +
        "holding up decisions while it reads a change)",
      default: DEFAULT_MAX_POLICIES,
      min: 1,
    }),
    reload_interval: duration({
      help: "how often the bundle is checked for changes (0 disables hot reload)",
      default: DEFAULT_RELOAD_INTERVAL_MS,
    }),
    relay_url: url({
      help: "relay base URL: subscribe to access.intent, publish access.decision",
    }),
    relay_token: str({
      help: "credential for the relay (subscribe:access.intent publish:access.decision), " +
        "or file:PATH",
      secret: true,
      fileRef: true,
    }),
    relay_timeout: relayTimeoutField(),
    relay_idle_timeout: relayIdleField(),
    audit_url: url({ help: "audit service base URL: decisions are appended to the ledger" }),
    audit_token: str({
      help: "credential for the audit service (audit:append), or file:PATH",
      secret: true,
      fileRef: true,
    }),
    audit_buffer: int({ help: "HTTP decisions queued for the ledger", default: 1000, min: 1 }),
    audit_timeout: auditTimeoutField(),
    audit_flush_timeout: auditFlushField(),
    state_db: path({
      help: "SQLite file for the relay loop's position and decided tx_ids",
      default: `${DATA_DIR}/policy-state.db`,
      access: "write",
    }),
    max_decided: int({ help: "decided tx_ids remembered", default: DEFAULT_MAX_DECIDED, min: 1 }),
    redeliver_interval: duration({
      help: "retry interval for decisions not yet published/audited",
      default: 5_000,
      min: 10,
    }),
    queue: str({
      help: "nats://HOST:4222[,HOST2...]: share the intents with the other policy replicas " +
        "(one durable consumer on the relay's JetStream stream) and record decisions in " +
        "JetStream KV instead of state_db (with --relay-url, which publishes the decisions)",
      pattern: /^(nats|tls):\/\/.+$/,
    }),
    nats: section(natsFields()),
    queue_ack_wait: duration({
      help: "an intent a replica took goes to another replica after this long with no word",
      default: 30_000,
      min: 1_000,
    }),
    queue_stream: str({
      help: "the relay's JetStream stream (the relay's --stream)",
      default: "IATP_RELAY",
      pattern: /^[A-Za-z0-9_-]{1,64}$/,
    }),
    queue_subjects: str({
      help: "the relay's subject prefix (the relay's --stream-subjects)",
      default: "relay",
      pattern: /^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,3}$/,
    }),
    decisions_bucket: str({
      help: "JetStream KV bucket of decided tx_ids (created when missing)",
      default: "IATP_POLICY_DECISIONS",
      pattern: /^[A-Za-z0-9_-]{1,64}$/,
    }),
    decisions_replicas: int({
      help: "copies of the decisions bucket in the NATS cluster (when it is created)",
      default: 1,
      min: 1,
      max: 5,
    }),
  },
  deprecated: {
    flags: { relay_url: "relay", audit_url: "audit" },
    env: { relay_url: "IATP_POLICY_RELAY", audit_url: "IATP_POLICY_AUDIT" },
    keys: { relay_url: "relay", audit_url: "audit" },
  },
  // The NATS credentials are read only for the replicas' queue.
  unreadFileRefs: (c) => c.queue ? [] : ["nats.password", "nats.token"],
});

/** The validated policy config. */
export type PolicyConfig = Infer<typeof spec.spec.fields>;

async function loadInitial(dir: string, limits: BundleLimits): Promise<PolicyEngine> {
  try {
    return new PolicyEngine(await loadBundle(dir, limits));
  } catch (err) {
    if (!(err instanceof PolicyBundleError)) throw err;
    throw new ConfigError(
      "policies",
      { kind: "default" },
      "a valid Cedar bundle",
      err.message,
    );
  }
}

/**
 * Starts the policy service.
 * @throws {ConfigError} naming `auth_keys` when it would listen beyond loopback with no
 * credentials (protected mode), `policies` for a bad bundle, or a token setting whose file
 * cannot be read.
 */
export async function start(
  config: PolicyConfig,
  deps: { log?: Logger; sources?: SourceMap } = {},
): Promise<Service> {
  const log = deps.log ?? serviceLogger("policy", config);
  const auth = meshAuthFor(config, {
    command: "policy",
    host: config.host,
    hostSource: deps.sources?.get("host"),
    log,
  });
  const relayToken = resolveSecretSetting("relay_token", config.relay_token);
  const auditToken = resolveSecretSetting("audit_token", config.audit_token);
  const limits = { maxPolicies: config.max_policies };
  const engine = await loadInitial(config.policies, limits);
  const reloader = new PolicyReloader(config.policies, engine, log, limits);
  reloader.start(config.reload_interval);
  const audit = config.audit_url
    ? new AuditClient({
      url: config.audit_url,
      token: auditToken,
      log,
      bufferSize: config.audit_buffer,
      timeoutMs: config.audit_timeout,
      flushTimeoutMs: config.audit_flush_timeout,
    })
    : undefined;
  const server = createServer({
    service: "policy",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
    anyHost: auth.enabled || config.insecure,
    // The decision loop is made below, before the server listens.
    health: () =>
      policyHealth(bridge, engine.bundle.ref, reloader.status().last_error, engine.trap, audit),
  });
  const decisions = new Counter({
    name: "iatp_policy_decisions_total",
    help: "Policy decisions by outcome",
    labelNames: ["decision"],
    registers: [server.metrics.registry],
  });
  const onDecision = (d: Decision) => decisions.inc({ decision: d.decision });
  const compat = config.compat;
  server.routes((app) =>
    registerPolicyRoutes(app, { engine, reloader, audit, onDecision, auth, compat })
  );
  let bridge: DecisionBridge | SharedDecisionBridge | undefined;
  let state: DecisionState | undefined;
  let relay: RelayClient | undefined;
  let nats: NatsEngine | undefined;
  if (config.queue) {
    if (!config.relay_url) {
      throw new ConfigError(
        "relay_url",
        { kind: "default" },
        "a relay URL with --queue",
        "nothing",
      );
    }
    relay = new RelayClient({
      url: config.relay_url,
      token: relayToken,
      log,
      requestTimeoutMs: config.relay_timeout,
      idleTimeoutMs: config.relay_idle_timeout,
    });
    nats = await connectEngine("queue", config.queue, config.nats, "iatp-policy", log);
    bridge = await startShared(config, {
      nats,
      relay,
      audit,
      engine,
      log,
      onDecision,
      compat,
    }).catch(async (err) => {
      await nats?.close();
      await relay?.close();
      throw err;
    });
  } else if (config.relay_url) {
    requireRegularFile("state_db", config.state_db);
    warnOpenFolder(log, await ensureParentDir(config.state_db));
    state = await openDecisionState(config.state_db, config.max_decided);
    relay = new RelayClient({
      url: config.relay_url,
      token: relayToken,
      log,
      requestTimeoutMs: config.relay_timeout,
      idleTimeoutMs: config.relay_idle_timeout,
    });
    bridge = new DecisionBridge({
      relay,
      audit,
      engine,
      state,
      log,
      redeliverMs: config.redeliver_interval,
      onDecision,
      compat,
      missingRisk: compat === "upstream" ? UPSTREAM_MISSING_RISK : undefined,
    });
  }
  const svc = await server.listen();
  if (bridge instanceof DecisionBridge) await bridge.start();
  log.info("policy bundle loaded", {
    dir: config.policies,
    policy_ref: engine.bundle.ref,
    policies: engine.bundle.policies.length,
  });
  return withShutdown(svc, async () => {
    reloader.close();
    // Takes no more intents and waits for the deliveries in flight. The relay mode's loop: the
    // relay client's close ends their retries, so a relay out of reach holds the stop one request
    // deadline at most. The shared loop (NATS) ends before the client closes, as it did.
    const bridgeClosed = bridge?.close();
    if (!(bridge instanceof DecisionBridge)) await bridgeClosed;
    await svc.close();
    await relay?.close();
    await bridgeClosed;
    await audit?.close();
    await nats?.close();
    state?.close();
  });
}

/**
 * Opens the decision loop shared with other replicas on JetStream.
 * @throws {ConfigError} naming `queue` when the bucket or the shared consumer cannot be opened
 */
async function startShared(
  config: PolicyConfig,
  o: Pick<SharedBridgeOptions, "nats" | "relay" | "audit" | "engine" | "log" | "onDecision"> & {
    compat: PolicyConfig["compat"];
  },
): Promise<SharedDecisionBridge> {
  const bridge = await createSharedBridge({
    ...o,
    missingRisk: o.compat === "upstream" ? UPSTREAM_MISSING_RISK : undefined,
    stream: config.queue_stream,
    prefix: config.queue_subjects,
    bucket: config.decisions_bucket,
    replicas: config.decisions_replicas,
    ackWaitMs: config.queue_ack_wait,
  });
  try {
    await bridge.start();
  } catch (err) {
    await bridge.close();
    // Its source is filled in by the start-up report (explainStartFailure): a flag, an env
    // var or a line of the config file.
    throw new ConfigError(
      "queue",
      { kind: "default" },
      `the relay's stream ${config.queue_stream} and a KV bucket on ${o.nats.display}`,
      errorMessage(err),
      { cause: err },
    );
  }
  return bridge;
}

/** The policy command. */
export const command = serviceCommand(spec, start);

// `deno run cmd/policy.ts ARGS` is `iatp policy ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("policy", command);
