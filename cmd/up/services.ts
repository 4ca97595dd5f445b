/**
 * How `iatp up` starts each service in-process: its config on `up`'s host, ports and data dir,
 * with the issuer key to verify callers and its own least-scoped credential (as `file:PATH`,
 * the way a standalone deployment takes it).
 * @module
 */
import { ConfigError } from "../../core/errors/mod.ts";
import type { Service } from "../../core/http/mod.ts";
import type { Logger } from "../../core/log/mod.ts";
import * as action from "../action.ts";
import * as audit from "../audit.ts";
import * as dashboard from "../dashboard.ts";
import * as policy from "../policy.ts";
import * as relay from "../relay.ts";
import * as sensor from "../sensor.ts";
import * as sidecar from "../sidecar.ts";
import { startDemoAgent, type UpCredentials } from "../../core/mesh/mod.ts";
import { asUpSetting, auditStorage, policyState, relayStore } from "./backends.ts";
import { portOf, type UpConfig, type UpPort } from "./config.ts";

/** The port setting of each service `up` starts. */
const PORT_OF: Record<string, UpPort> = {
  relay: "relay_port",
  audit: "audit_port",
  policy: "policy_port",
  dashboard: "dashboard_port",
  "demo-agent": "agent_port",
  sidecar: "sidecar_port",
  "sidecar-untrusted": "untrusted_sidecar_port",
  sensor: "sensor_port",
  action: "action_port",
};

/** A port already in use, named by service and setting (`iatp up` puts in the source). */
function busyPort(config: UpConfig, service: string, err: Error): Error {
  const key = PORT_OF[service];
  if (!key) return err;
  return new ConfigError(
    key,
    { kind: "default" },
    "a port no other process listens on (or another --base-port)",
    `${config.host}:${portOf(config, key)}, the ${service} port, already in use`,
    { cause: err },
  );
}

/** What every start helper shares. */
export interface UpContext {
  config: UpConfig;
  /** The services selected with `--services`. */
  want: ReadonlySet<string>;
  /** The data dir, without a trailing slash. */
  data: string;
  creds: UpCredentials;
  /**
   * The issuer public key every service verifies callers with, and the revocation file each
   * watches (a `jti` appended there is refused everywhere within a second or two).
   */
  keys: { auth_keys: string[]; auth_revoked: string[] };
  logFor(service: string): Logger;
  /** Every started service's URL by name. */
  urls: Readonly<Record<string, string>>;
  /** Starts a service, records it for close() and returns its URL. */
  run(name: string, f: () => Promise<Service>): Promise<string>;
}

/** The running mesh: every service's URL by name, its credentials, and one close(). */
export interface Mesh extends Service {
  urls: Record<string, string>;
  credentials: UpCredentials;
}

/** The services started so far (closed in reverse), their URLs and the first failure. */
export class MeshRun {
  readonly ctx: UpContext;
  readonly #started: Service[] = [];
  readonly #urls: Record<string, string> = {};
  readonly #failed = Promise.withResolvers<Error>();
  readonly #beforeClose: Array<() => Promise<void>> = [];

  constructor(
    config: UpConfig,
    data: string,
    readonly creds: UpCredentials,
    logFor: (service: string) => Logger,
  ) {
    this.ctx = {
      config,
      want: new Set(config.services),
      data,
      creds,
      keys: { auth_keys: [creds.issuer.publicKey], auth_revoked: [creds.revokedFile] },
      logFor,
      urls: this.#urls,
      run: async (name, f) => {
        const svc = await f().catch((err) => {
          throw err instanceof Deno.errors.AddrInUse ? busyPort(config, name, err) : err;
        });
        svc.failed.then((err) => this.#failed.resolve(new Error(`${name} failed`, { cause: err })));
        this.#started.push(svc);
        this.#urls[name] = svc.url;
        return svc.url;
      },
    };
  }

  /** Runs `fn` first when the mesh closes (the demo traffic stops before the services). */
  onClose(fn: () => Promise<void>): void {
    this.#beforeClose.push(fn);
  }

  /** Closes what started, last first; a service that fails to close does not stop the rest. */
  readonly close = async (): Promise<void> => {
    for (const fn of this.#beforeClose) await fn();
    for (const svc of this.#started.reverse()) await svc.close().catch(() => {});
  };

  /** The running mesh. */
  mesh(): Mesh {
    const urls = this.#urls;
    return {
      url: urls.dashboard ?? Object.values(urls)[0] ?? "",
      urls,
      credentials: this.creds,
      close: this.close,
      failed: this.#failed.promise,
    };
  }
}

/**
 * Every selected service in dependency order: relay, audit, policy, the demo agent and its
 * sidecars, the agents, and the dashboard last (it watches every other service's health).
 */
export async function startServices(ctx: UpContext): Promise<{
  relayUrl?: string;
  sidecars: { trustedSidecar?: string; untrustedSidecar?: string };
}> {
  const relayUrl = await startRelay(ctx);
  const auditUrl = await startAudit(ctx, relayUrl);
  await startPolicy(ctx, relayUrl, auditUrl);
  const sidecars = ctx.config.demo
    ? await startDemoSidecars(ctx, relayUrl, auditUrl)
    : await startOwnSidecar(ctx, relayUrl, auditUrl);
  await startAgents(ctx, relayUrl);
  await startDashboard(ctx, relayUrl, auditUrl, ctx.urls);
  return { relayUrl, sidecars };
}

/** The relay (its history in a JetStream stream with `--backend nats`), when selected. */
export async function startRelay(ctx: UpContext): Promise<string | undefined> {
  if (!ctx.want.has("relay")) return undefined;
  const { host, log_level } = ctx.config;
  const port = portOf(ctx.config, "relay_port");
  return await ctx.run(
    "relay",
    () =>
      // Agents and the dashboard resume from the relay's history: keep iatp's deeper default
      // rather than the 50 events per topic of upstream IG&S clients.
      relay.start(
        relay.spec.resolve({
          host,
          port,
          log_level,
          retention_events: 1000,
          workers: 1, // `up` runs the whole mesh in one process: its services share the cores
          ...relayStore(ctx.config, ctx.data),
          ...ctx.keys,
        }),
        { log: ctx.logFor("relay") },
      ).catch((err) => {
        throw asUpSetting("relay", err);
      }),
  );
}

/** The audit ledger (SQLite under the data dir, or PostgreSQL), when selected. */
export async function startAudit(
  ctx: UpContext,
  relayUrl: string | undefined,
): Promise<string | undefined> {
  if (!ctx.want.has("audit")) return undefined;
  const { host, log_level } = ctx.config;
  const port = portOf(ctx.config, "audit_port");
  const storage = await auditStorage(ctx.config, ctx.data);
  return await ctx.run("audit", () =>
    audit.start(
      audit.spec.resolve({
        host,
        port,
        ...storage,
        relay_url: relayUrl,
        relay_token: ctx.creds.file("audit"),
        log_level,
        ...ctx.keys,
      }),
      { log: ctx.logFor("audit") },
    ).catch((err) => {
      throw asUpSetting("audit", err);
    }));
}

/**
 * The policy service (default bundle, relay decision loop; with `--backend nats`, the replicas'
 * shared queue), when selected.
 */
async function startPolicy(
  ctx: UpContext,
  relayUrl: string | undefined,
  auditUrl: string | undefined,
): Promise<void> {
  if (!ctx.want.has("policy")) return;
  const { host, log_level } = ctx.config;
  const port = portOf(ctx.config, "policy_port");
  await ctx.run("policy", () =>
    policy.start(
      policy.spec.resolve({
        host,
        port,
        relay_url: relayUrl,
        relay_token: ctx.creds.file("policy"),
        audit_url: auditUrl,
        audit_token: ctx.creds.file("policy"),
        ...policyState(ctx.config, ctx.data, relayUrl),
        log_level,
        ...ctx.keys,
      }),
      { log: ctx.logFor("policy") },
    ).catch((err) => {
      throw asUpSetting("policy", err);
    }));
}

/** The vkey the audit service at `url` (one this process started) signs its checkpoints with. */
async function servedVkey(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${url}/checkpoint`, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(5_000),
    });
    const body = res.ok ? await res.json() : undefined;
    await res.body?.cancel().catch(() => {});
    return typeof body?.vkey === "string" ? body.vkey : undefined;
  } catch {
    return undefined;
  }
}

/** The dashboard, when selected. */
export async function startDashboard(
  ctx: UpContext,
  relayUrl: string | undefined,
  auditUrl: string | undefined,
  urls: Record<string, string>,
): Promise<void> {
  if (!ctx.want.has("dashboard")) return;
  // The relay and the audit service are watched already; the others by their /health.
  const watched = ["policy", "sidecar", "sidecar-untrusted", "demo-agent", "sensor", "action"];
  const services = watched.filter((n) => urls[n]).map((n) => `${n}=${urls[n]}`);
  const { host, log_level } = ctx.config;
  const port = portOf(ctx.config, "dashboard_port");
  // The audit service started here, in this process: its key is pinned, so receipts verify.
  const audit_public_key = auditUrl ? await servedVkey(auditUrl) : undefined;
  await ctx.run("dashboard", () =>
    dashboard.start(
      dashboard.spec.resolve({
        host,
        port,
        relay_url: relayUrl,
        relay_token: ctx.creds.file("dashboard"),
        audit_url: auditUrl,
        ...(audit_public_key ? { audit_public_key } : {}),
        services,
        log_level,
        ...ctx.keys,
      }),
      { log: ctx.logFor("dashboard") },
    ));
}

/** The settings every sidecar `up` starts shares: host, mesh links, credentials. */
function sidecarBase(ctx: UpContext, relayUrl?: string, auditUrl?: string) {
  return {
    host: ctx.config.host,
    relay_url: relayUrl,
    relay_token: ctx.creds.file("sidecar"),
    audit_url: auditUrl,
    audit_token: ctx.creds.file("sidecar"),
    log_level: ctx.config.log_level,
    // `up` runs the whole mesh in one process: its services share the cores already.
    workers: 1,
    ...ctx.keys,
  };
}

/** Without the demo: one sidecar in front of `--agent-url`, when `--services` has sidecar. */
async function startOwnSidecar(
  ctx: UpContext,
  relayUrl: string | undefined,
  auditUrl: string | undefined,
): Promise<{ trustedSidecar?: string }> {
  const agentUrl = ctx.config.agent_url;
  if (!ctx.want.has("sidecar") || !agentUrl) return {};
  const trustedSidecar = await ctx.run("sidecar", async () =>
    sidecar.start(
      sidecar.command.resolve({
        ...sidecarBase(ctx, relayUrl, auditUrl),
        signing_key: await ctx.creds.seedFile("sidecar"),
        agent_url: agentUrl,
        port: portOf(ctx.config, "sidecar_port"),
      }),
      { log: ctx.logFor("sidecar") },
    ));
  return { trustedSidecar };
}

/** The demo agent and, when selected, a trusted and an untrusted sidecar in front of it. */
async function startDemoSidecars(
  ctx: UpContext,
  relayUrl: string | undefined,
  auditUrl: string | undefined,
): Promise<{ trustedSidecar?: string; untrustedSidecar?: string }> {
  const agentUrl = await ctx.run("demo-agent", () =>
    startDemoAgent({
      host: ctx.config.host,
      port: portOf(ctx.config, "agent_port"),
      log: ctx.logFor("demo-agent"),
    }));
  if (!ctx.want.has("sidecar")) return {};
  const base = { ...sidecarBase(ctx, relayUrl, auditUrl), agent_url: agentUrl };
  const trustedSidecar = await ctx.run("sidecar", async () =>
    sidecar.start(
      sidecar.command.resolve({
        ...base,
        signing_key: await ctx.creds.seedFile("sidecar"),
        port: portOf(ctx.config, "sidecar_port"),
        agent_id: "demo-assistant",
        trust_level: "trusted",
        reversibility: "full",
        retention: "temporary",
      }),
      { log: ctx.logFor("sidecar") },
    ));
  const untrustedSidecar = await ctx.run("sidecar-untrusted", async () =>
    sidecar.start(
      sidecar.command.resolve({
        ...base,
        signing_key: await ctx.creds.seedFile("sidecar-untrusted"),
        port: portOf(ctx.config, "untrusted_sidecar_port"),
        agent_id: "demo-untrusted",
        trust_level: "untrusted",
        reversibility: "none",
        retention: "permanent",
      }),
      { log: ctx.logFor("sidecar-untrusted") },
    ));
  return { trustedSidecar, untrustedSidecar };
}

/** The sensor (cpu-monitor) and the relay-fed action agent, when selected. */
async function startAgents(ctx: UpContext, relayUrl: string | undefined): Promise<void> {
  const { config, data } = ctx;
  const level = config.log_level;
  if (ctx.want.has("sensor")) {
    await ctx.run("sensor", () =>
      sensor.start(
        sensor.spec.resolve({
          agent: { id: "demo-sensor", type: "sensor", base_folder: `${data}/sensor` },
          relay: { url: relayUrl, token: ctx.creds.file("sensor") },
          health: { host: config.host, port: portOf(config, "sensor_port") },
          logging: { level },
          sensor: {
            publish_to: "relay",
            dedup_window: 10_000,
            triggers: [{
              plugin_id: "cpu-monitor",
              interval: config.demo ? "5s" : "30s",
              // In the demo a threshold of 1% makes the sandboxed plugin report every interval.
              config: { threshold: config.demo ? 1 : 80 },
            }],
          },
        }),
        { log: ctx.logFor("sensor") },
      ));
  }
  if (ctx.want.has("action") && relayUrl) {
    await ctx.run("action", () =>
      action.start(
        action.spec.resolve({
          agent: { id: "demo-action", type: "action", base_folder: `${data}/action` },
          // Only the demo traffic credential may give this agent orders.
          relay: { url: relayUrl, token: ctx.creds.file("action"), task_publishers: ["demo"] },
          health: { host: config.host, port: portOf(config, "action_port") },
          logging: { level },
          action: { task_source: "relay" },
        }),
        { log: ctx.logFor("action") },
      ));
  }
}
