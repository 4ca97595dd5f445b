/**
 * `iatp up`: the whole mesh in one process on embedded defaults — relay, audit (SQLite under
 * the data dir), policy (default Cedar bundle), dashboard, a demo agent behind a trusted and an
 * untrusted sidecar, a sensor with cpu-monitor and an action agent fed by the relay — plus a
 * stream of demo traffic. `--no-demo` for real use. Every service runs authenticated with the
 * credentials made under `<data_dir>/credentials/` (see cmd/up/credentials.ts).
 * @module
 */
import { bool, defineConfig, duration, list, oneOf, port, str } from "../core/config/mod.ts";
import type { Infer } from "../core/config/mod.ts";
import { UsageError } from "../core/errors/mod.ts";
import type { Service } from "../core/http/mod.ts";
import { createLogger, LEVELS, type Logger } from "../core/log/mod.ts";
import { RelayClient } from "../core/relay/client.ts";
import { permittedEnv } from "../core/config/mod.ts";
import type { Command } from "./mod.ts";
import { print, runUntilStopped } from "./shared.ts";
import { ensureCredentials, type UpCredentials } from "./up/credentials.ts";
import { demoSteps, runDemoTraffic } from "./up/demo.ts";
import {
  startAgents,
  startAudit,
  startDashboard,
  startDemoSidecars,
  startPolicy,
  startRelay,
  type UpContext,
} from "./up/services.ts";

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

/** The running mesh: every service's URL by name, its credentials, and one close(). */
export interface Mesh extends Service {
  urls: Record<string, string>;
  credentials: UpCredentials;
}

/** Starts the selected services in dependency order; closes what started if one fails. */
export async function start(config: UpConfig, deps: { log?: Logger } = {}): Promise<Mesh> {
  const level = config.log_level;
  const logFor = (service: string) =>
    deps.log?.child({ component: service }) ?? createLogger({ service, level });
  const data = config.data_dir.replace(/\/$/, "");
  await Deno.mkdir(data, { recursive: true });
  const creds = await ensureCredentials(data, logFor("up"));
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
  const ctx: UpContext = {
    config,
    want: new Set(config.services),
    data,
    creds,
    keys: { auth_keys: [creds.issuer.publicKey] },
    logFor,
    async run(name, f) {
      const svc = await f();
      svc.failed.then((err) => failed.resolve(new Error(`${name} failed`, { cause: err })));
      started.push({ name, svc });
      urls[name] = svc.url;
      return svc.url;
    },
  };

  try {
    const relayUrl = await startRelay(ctx);
    const auditUrl = await startAudit(ctx, relayUrl);
    await startPolicy(ctx, relayUrl, auditUrl);
    const sidecars = config.demo ? await startDemoSidecars(ctx, relayUrl, auditUrl) : {};
    await startAgents(ctx, relayUrl);
    // Last, so it knows every other service's URL for its health overview.
    await startDashboard(ctx, relayUrl, auditUrl, urls);
    if (config.demo && relayUrl) {
      publisher = new RelayClient({
        url: relayUrl,
        token: creds.token("demo"),
        log: logFor("demo"),
      });
    }
    if (config.demo) {
      let n = 0;
      const steps = demoSteps({ relay: publisher, ...sidecars }, () => ++n);
      demo = runDemoTraffic(steps, config.demo_interval, logFor("demo"));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url: urls.dashboard ?? Object.values(urls)[0] ?? "",
    urls,
    credentials: creds,
    close,
    failed: failed.promise,
  };
}

/**
 * How to log in and call the mesh. The login URL carries the viewer credential in its fragment,
 * which browsers never send to a server; it is printed on the terminal only (as Jupyter does),
 * never logged. The admin credential is only ever referenced by its file.
 */
function accessLines(mesh: Mesh): string[] {
  const c = mesh.credentials;
  const file = (name: string) => `${c.dir}/${name}.token`;
  const lines = [`Credentials (0600 files in ${c.dir}; services verify them with issuer.pub):`];
  if (mesh.urls.dashboard) {
    lines.push(
      `  Dashboard login: ${mesh.urls.dashboard}/login#token=${c.token("viewer")}`,
      `  Viewer credential (dashboard:view subscribe:*): ${file("viewer")}`,
    );
  }
  lines.push(`  Admin credential (every scope): ${file("admin")}`);
  if (mesh.urls.relay) {
    lines.push(
      `  curl -H "Authorization: Bearer $(cat '${file("admin")}')" ${mesh.urls.relay}/topics`,
    );
  }
  return lines;
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
    "iatp up: the mesh is running; every service-to-service call carries a credential.",
    "",
    ...(mesh.urls.dashboard ? [`  Open the dashboard: ${mesh.urls.dashboard}`, ""] : []),
    ...rows,
    "",
    ...accessLines(mesh),
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
