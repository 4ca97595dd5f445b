/**
 * `iatp up`: the whole mesh in one process on embedded defaults — relay, audit (SQLite under
 * the data dir), policy (default Cedar bundle), dashboard, a demo agent behind a trusted and an
 * untrusted sidecar, a sensor with cpu-monitor and an action agent fed by the relay — plus a
 * stream of demo traffic. `--no-demo` for real use.
 * @module
 */
import { bool, defineConfig, duration, list, oneOf, port, str } from "../core/config/mod.ts";
import type { Infer } from "../core/config/mod.ts";
import { UsageError } from "../core/errors/mod.ts";
import type { Service } from "../core/http/mod.ts";
import { createLogger, LEVELS, type Logger } from "../core/log/mod.ts";
import { RelayClient } from "../core/relay/client.ts";
import { permittedEnv } from "../core/config/mod.ts";
import * as action from "./action.ts";
import * as audit from "./audit.ts";
import * as dashboard from "./dashboard.ts";
import * as policy from "./policy.ts";
import * as relay from "./relay.ts";
import * as sensor from "./sensor.ts";
import * as sidecar from "./sidecar.ts";
import type { Command } from "./mod.ts";
import { print, runUntilStopped } from "./shared.ts";
import { demoSteps, runDemoTraffic, startDemoAgent } from "./up/demo.ts";

/** The services `up` can start, in start order. */
export const UP_SERVICES = [
  "relay",
  "audit",
  "policy",
  "dashboard",
  "sidecar",
  "sensor",
  "action",
] as const;

/** `iatp up` configuration. */
export const spec = defineConfig({
  command: "up",
  summary: "Runs the mesh in one process: relay, audit, policy, dashboard, a demo agent behind a " +
    "trusted and an untrusted sidecar, a sensor (cpu-monitor) and an action agent, plus demo " +
    "traffic. Prints the URLs; Ctrl-C stops everything cleanly.",
  envPrefix: "IATP_UP_",
  fields: {
    host: str({ help: "address every service listens on", default: "127.0.0.1" }),
    services: list({
      help: `services to start (${UP_SERVICES.join(",")})`,
      default: [...UP_SERVICES],
      item: new RegExp(`^(${UP_SERVICES.join("|")})$`),
    }),
    demo: bool({ help: "start the demo agent and demo traffic", default: true }),
    demo_interval: duration({ help: "pause between demo steps", default: 1500, min: 50 }),
    data_dir: str({
      help: "where audit, policy state and agent folders live",
      default: permittedEnv("IATP_DATA_DIR") || "data",
      env: "IATP_DATA_DIR",
      minLength: 1,
    }),
    relay_port: port({ help: "relay port", default: 8005 }),
    policy_port: port({ help: "policy port", default: 8002 }),
    audit_port: port({ help: "audit port", default: 8003 }),
    dashboard_port: port({ help: "dashboard port", default: 8004 }),
    sidecar_port: port({ help: "trusted demo sidecar port", default: 8001 }),
    untrusted_sidecar_port: port({ help: "untrusted demo sidecar port", default: 8011 }),
    agent_port: port({ help: "demo agent port", default: 8000 }),
    sensor_port: port({ help: "sensor health port", default: 8086 }),
    action_port: port({ help: "action agent health port", default: 8087 }),
    log_level: oneOf(LEVELS, { help: "log level of every service", default: "warn" }),
  },
});

/** The resolved `up` config. */
export type UpConfig = Infer<typeof spec.spec.fields>;

/** The running mesh: every service's URL by name, and one close(). */
export interface Mesh extends Service {
  urls: Record<string, string>;
}

/** Starts the selected services in dependency order; closes what started if one fails. */
export async function start(config: UpConfig, deps: { log?: Logger } = {}): Promise<Mesh> {
  const want = new Set(config.services);
  const level = config.log_level;
  const logFor = (service: string) =>
    deps.log?.child({ component: service }) ?? createLogger({ service, level });
  const host = config.host;
  const data = config.data_dir.replace(/\/$/, "");
  await Deno.mkdir(data, { recursive: true });
  const started: Array<{ name: string; svc: Service }> = [];
  const urls: Record<string, string> = {};
  const failed = Promise.withResolvers<Error>();
  let demo: { stop(): void } | undefined;
  let publisher: RelayClient | undefined;

  const close = async () => {
    demo?.stop();
    await publisher?.close();
    for (const { svc } of started.reverse()) await svc.close().catch(() => {});
  };
  const run = async (name: string, f: () => Promise<Service>) => {
    const svc = await f();
    svc.failed.then((err) => failed.resolve(new Error(`${name} failed`, { cause: err })));
    started.push({ name, svc });
    urls[name] = svc.url;
    return svc.url;
  };

  try {
    const relayUrl = want.has("relay")
      ? await run(
        "relay",
        () =>
          relay.start(relay.spec.resolve({ host, port: config.relay_port, log_level: level }), {
            log: logFor("relay"),
          }),
      )
      : undefined;
    const auditUrl = want.has("audit")
      ? await run("audit", () =>
        audit.start(
          audit.spec.resolve({
            host,
            port: config.audit_port,
            db: `${data}/audit.db`,
            relay: relayUrl,
            log_level: level,
          }),
          { log: logFor("audit") },
        ))
      : undefined;
    if (want.has("policy")) {
      await run("policy", () =>
        policy.start(
          policy.spec.resolve({
            host,
            port: config.policy_port,
            relay: relayUrl,
            audit: auditUrl,
            state_db: `${data}/policy-state.db`,
            log_level: level,
          }),
          { log: logFor("policy") },
        ));
    }
    if (want.has("dashboard")) {
      await run("dashboard", () =>
        dashboard.start(
          dashboard.spec.resolve({
            host,
            port: config.dashboard_port,
            relay: relayUrl,
            audit: auditUrl,
            log_level: level,
          }),
          { log: logFor("dashboard") },
        ));
    }
    let trusted: string | undefined;
    let untrusted: string | undefined;
    if (config.demo) {
      const agentUrl = await run(
        "demo-agent",
        () => startDemoAgent({ host, port: config.agent_port, log: logFor("demo-agent") }),
      );
      if (want.has("sidecar")) {
        const base = {
          host,
          agent_url: agentUrl,
          relay_url: relayUrl,
          audit_url: auditUrl,
          log_level: level,
        };
        trusted = await run("sidecar", () =>
          sidecar.start(
            sidecar.command.resolve({
              ...base,
              port: config.sidecar_port,
              agent_id: "demo-assistant",
              trust_level: "trusted",
              reversibility: "full",
              retention: "temporary",
            }),
            { log: logFor("sidecar") },
          ));
        untrusted = await run("sidecar-untrusted", () =>
          sidecar.start(
            sidecar.command.resolve({
              ...base,
              port: config.untrusted_sidecar_port,
              agent_id: "demo-untrusted",
              trust_level: "untrusted",
              reversibility: "none",
              retention: "permanent",
            }),
            { log: logFor("sidecar-untrusted") },
          ));
      }
    }
    if (want.has("sensor")) {
      await run("sensor", () =>
        sensor.start(
          sensor.spec.resolve({
            agent: { id: "demo-sensor", type: "sensor", base_folder: `${data}/sensor` },
            relay: { url: relayUrl },
            health: { host, port: config.sensor_port },
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
          { log: logFor("sensor") },
        ));
    }
    if (want.has("action") && relayUrl) {
      await run("action", () =>
        action.start(
          action.spec.resolve({
            agent: { id: "demo-action", type: "action", base_folder: `${data}/action` },
            relay: { url: relayUrl },
            health: { host, port: config.action_port },
            logging: { level },
            action: { task_source: "relay" },
          }),
          { log: logFor("action") },
        ));
    }
    if (config.demo && relayUrl) {
      publisher = new RelayClient({ url: relayUrl, log: logFor("demo") });
    }
    if (config.demo) {
      let n = 0;
      const steps = demoSteps(
        { relay: publisher, trustedSidecar: trusted, untrustedSidecar: untrusted },
        () => ++n,
      );
      demo = runDemoTraffic(steps, config.demo_interval, logFor("demo"));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url: urls.dashboard ?? Object.values(urls)[0] ?? "",
    urls,
    close,
    failed: failed.promise,
  };
}

function banner(mesh: Mesh, demo: boolean): string {
  const order = [
    "dashboard",
    "relay",
    "policy",
    "audit",
    "sidecar",
    "sidecar-untrusted",
    "demo-agent",
    "sensor",
    "action",
  ];
  const rows = order.filter((n) => mesh.urls[n]).map((n) => `  ${n.padEnd(18)}${mesh.urls[n]}`);
  return [
    "iatp up: the mesh is running.",
    "",
    ...(mesh.urls.dashboard ? [`  Open the dashboard: ${mesh.urls.dashboard}`, ""] : []),
    ...rows,
    "",
    demo
      ? "Demo traffic: intents (allow/deny) and sidecar calls (allow, 403 block, 449 warn) every few seconds."
      : "No demo traffic (--no-demo).",
    "Ctrl-C stops everything.",
  ].join("\n");
}

/** The up command. */
export const command: Command & { spec: typeof spec; start: typeof start } = {
  spec,
  start,
  usage: () => spec.usage(),
  async run(argv) {
    const loaded = spec.parse(argv);
    if (loaded.help) {
      print(spec.usage());
      return 0;
    }
    if (loaded.config.services.length === 0) throw new UsageError("--services: nothing to start");
    const log = createLogger({ service: "up", level: loaded.config.log_level });
    const mesh = await start(loaded.config);
    print(banner(mesh, loaded.config.demo));
    log.info("listening", { url: mesh.url, urls: mesh.urls });
    return await runUntilStopped(mesh, log);
  },
};
