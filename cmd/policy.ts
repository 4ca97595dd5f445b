/**
 * `iatp policy`: Cedar decisions for access intents over HTTP, with hot reload, and (with
 * `--relay-url`) the exactly-once decision loop on `access.intent` -> `access.decision` + ledger.
 * @module
 */
import { ensureParentDir } from "../core/config/mod.ts";
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
  str,
  url,
} from "../core/config/mod.ts";
import { ConfigError } from "../core/errors/mod.ts";
import {
  createServer,
  edgeOptions,
  type Service,
  serviceFields,
  withShutdown,
} from "../core/http/mod.ts";
import { AuditClient } from "../core/ledger/mod.ts";
import type { Logger } from "../core/log/mod.ts";
import { Counter } from "../core/metrics/mod.ts";
import {
  type Decision,
  DecisionBridge,
  DecisionState,
  DEFAULT_MAX_DECIDED,
  DEFAULT_RELOAD_INTERVAL_MS,
  loadBundle,
  PolicyBundleError,
  PolicyEngine,
  PolicyReloader,
  registerPolicyRoutes,
  UPSTREAM_MISSING_RISK,
} from "../core/policy/mod.ts";
import { RelayClient } from "../core/relay/mod.ts";
import { serviceCommand, serviceLogger } from "./shared.ts";

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
    audit_url: url({ help: "audit service base URL: decisions are appended to the ledger" }),
    audit_token: str({
      help: "credential for the audit service (audit:append), or file:PATH",
      secret: true,
      fileRef: true,
    }),
    audit_buffer: int({ help: "HTTP decisions queued for the ledger", default: 1000, min: 1 }),
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
  },
  deprecated: {
    flags: { relay_url: "relay", audit_url: "audit" },
    env: { relay_url: "IATP_POLICY_RELAY", audit_url: "IATP_POLICY_AUDIT" },
    keys: { relay_url: "relay", audit_url: "audit" },
  },
});

/** The validated policy config. */
export type PolicyConfig = Infer<typeof spec.spec.fields>;

async function loadInitial(dir: string): Promise<PolicyEngine> {
  try {
    return new PolicyEngine(await loadBundle(dir));
  } catch (err) {
    if (!(err instanceof PolicyBundleError)) throw err;
    throw new ConfigError(
      "policies",
      { kind: "flag", name: "policies" },
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
export async function start(config: PolicyConfig, deps: { log?: Logger } = {}): Promise<Service> {
  const log = deps.log ?? serviceLogger("policy", config);
  const auth = meshAuthFor(config, { command: "policy", host: config.host, log });
  const relayToken = resolveSecretSetting("relay_token", config.relay_token);
  const auditToken = resolveSecretSetting("audit_token", config.audit_token);
  const engine = await loadInitial(config.policies);
  const reloader = new PolicyReloader(config.policies, engine, log);
  reloader.start(config.reload_interval);
  const audit = config.audit_url
    ? new AuditClient({
      url: config.audit_url,
      token: auditToken,
      log,
      bufferSize: config.audit_buffer,
    })
    : undefined;
  const server = createServer({
    service: "policy",
    host: config.host,
    port: config.port,
    log,
    ...edgeOptions(config),
  });
  const decisions = new Counter({
    name: "iatp_policy_decisions_total",
    help: "Policy decisions by outcome",
    labelNames: ["decision"],
    registers: [server.metrics.registry],
  });
  const onDecision = (d: Decision) => decisions.inc({ decision: d.decision });
  const compat = config.compat;
  registerPolicyRoutes(server.app, { engine, reloader, audit, onDecision, auth, compat });
  let bridge: DecisionBridge | undefined;
  let state: DecisionState | undefined;
  let relay: RelayClient | undefined;
  if (config.relay_url) {
    await ensureParentDir(config.state_db);
    state = new DecisionState(config.state_db, config.max_decided);
    relay = new RelayClient({ url: config.relay_url, token: relayToken, log });
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
  await bridge?.start();
  log.info("policy bundle loaded", {
    dir: config.policies,
    policy_ref: engine.bundle.ref,
    policies: engine.bundle.policies.length,
  });
  return withShutdown(svc, async () => {
    reloader.close();
    await bridge?.close();
    await svc.close();
    await relay?.close();
    await audit?.close();
    state?.close();
  });
}

/** The policy command. */
export const command = serviceCommand(spec, start);
