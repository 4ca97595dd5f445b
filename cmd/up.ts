/**
 * `iatp up`: the whole mesh in one process on embedded defaults — relay, audit (SQLite under
 * the data dir), policy (default Cedar bundle), dashboard, a demo agent behind a trusted and an
 * untrusted sidecar, a sensor with cpu-monitor and an action agent fed by the relay — plus a
 * stream of demo traffic. `--no-demo` for real use. Every service runs authenticated with the
 * credentials made under `<data_dir>/credentials/` (see core/mesh).
 * @module
 */
import { ensureDir, explainStartFailure, type SourceMap } from "../core/config/mod.ts";
import { ConfigError, UsageError } from "../core/errors/mod.ts";
import { createLogger, type Logger } from "../core/log/mod.ts";
import { RelayClient } from "../core/relay/mod.ts";
import type { Command } from "./command.ts";
import { holdStopSignals, print, serveUntilStopped, warnOpenFolder } from "./shared.ts";
import { demoSteps, ensureCredentials, runDemoTraffic } from "../core/mesh/mod.ts";
import { PORT_OFFSETS, spec, type UpConfig } from "./up/config.ts";
import { type Mesh, MeshRun, startServices } from "./up/services.ts";

export type { Mesh };

/** Starts the selected services in dependency order; closes what started if one fails. */
export async function start(config: UpConfig, deps: { log?: Logger } = {}): Promise<Mesh> {
  const logFor = (service: string) =>
    deps.log?.child({ component: service }) ??
      createLogger({ service, level: config.log_level });
  const data = config.data_dir.replace(/\/$/, "");
  warnOpenFolder(logFor("up"), await ensureDir(data)); // made owner-only (0700) when missing
  const creds = await ensureCredentials(data, logFor("up"));
  const run = new MeshRun(config, data, creds, logFor);
  let demo: { stop(): void } | undefined;
  let publisher: RelayClient | undefined;
  run.onClose(async () => {
    demo?.stop();
    await publisher?.close();
  });
  try {
    const { relayUrl, sidecars } = await startServices(run.ctx);
    if (config.demo) {
      publisher = relayUrl
        ? new RelayClient({ url: relayUrl, token: creds.token("demo"), log: logFor("demo") })
        : undefined;
      // Ids unique per run (`demo-<start time>-<n>`): policy decides each tx_id once, ever.
      const run = Date.now().toString(36);
      let n = 0;
      const steps = demoSteps({ relay: publisher, ...sidecars }, () => `${run}-${++n}`);
      demo = runDemoTraffic(steps, config.demo_interval, logFor("demo"));
    }
  } catch (err) {
    await run.close();
    throw err;
  }
  return run.mesh();
}

/**
 * How to log in and call the mesh. The admin credential is only ever referenced by its file.
 */
function accessLines(mesh: Mesh): string[] {
  const c = mesh.credentials;
  const file = (name: string) => `${c.dir}/${name}.token`;
  const lines = [`Credentials (0600 files in ${c.dir}; services verify them with issuer.pub):`];
  if (mesh.urls.dashboard) {
    lines.push(`  Viewer credential (dashboard:view subscribe:*): ${file("viewer")}`);
  }
  lines.push(`  Admin credential (every scope): ${file("admin")}`);
  if (mesh.urls.relay) {
    lines.push(
      `  curl -H "Authorization: Bearer $(cat ${
        shellWord(file("admin"))
      })" ${mesh.urls.relay}/topics`,
    );
  }
  return lines;
}

/** `text` as one POSIX shell word (single-quoted; a `'` in it closed, escaped and reopened). */
function shellWord(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The dashboard login. On a terminal, the login URL with the viewer credential in its fragment,
 * which browsers never send to a server (as Jupyter does). Anywhere else (a pipe, a file, a log
 * collector) the URL without it and a command that prints the full URL from the credential's file,
 * so no credential reaches a log.
 */
function loginLines(mesh: Mesh, onTerminal: boolean): string[] {
  const dashboard = mesh.urls.dashboard;
  if (!dashboard) return [];
  const login = `${dashboard}/login`;
  if (onTerminal) {
    return [`  Dashboard login: ${login}#token=${mesh.credentials.token("viewer")}`, ""];
  }
  const file = `${mesh.credentials.dir}/viewer.token`;
  return [
    `  Dashboard login: ${login} (with the viewer credential in ${file})`,
    `  The login URL with it: echo "${login}#token=$(cat ${shellWord(file)})"`,
    "",
  ];
}

function banner(mesh: Mesh, demo: boolean, onTerminal: boolean): string {
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
    ...loginLines(mesh, onTerminal),
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

/**
 * An error `up` raised for one of its settings with the source of its value: its own, or for a
 * busy port left at its default, `--base-port`.
 */
function withPortSource(err: unknown, sources: SourceMap): unknown {
  if (!(err instanceof ConfigError) || err.source.kind !== "default") return err;
  const own = sources.get(err.key);
  const isPort = Object.hasOwn(PORT_OFFSETS, err.key);
  const source = own?.kind !== "default" ? own : isPort ? sources.get("base_port") : undefined;
  if (!source || source.kind === "default") return err;
  return new ConfigError(err.key, source, err.expected, err.found, { cause: err });
}

/** The up command. */
export const command: Command & { spec: typeof spec; start: typeof start } = {
  spec,
  start,
  usage: () => spec.usage(),
  async run(argv) {
    const loaded = await spec.parse(argv);
    if (loaded.help) {
      print(spec.usage());
      return 0;
    }
    if (loaded.config.services.length === 0) throw new UsageError("--services: nothing to start");
    const log = createLogger({ service: "up", level: loaded.config.log_level });
    const held = holdStopSignals();
    const mesh = await start(loaded.config).catch((err) => {
      held.release();
      throw explainStartFailure(withPortSource(err, loaded.sources), {
        ...loaded,
        leaves: spec.leaves(),
      });
    });
    // The banner ends with "Ctrl-C stops everything.": printed only once that is true.
    return await serveUntilStopped(mesh, log, held, () => {
      print(banner(mesh, loaded.config.demo, Deno.stdout.isTerminal()));
      log.info("listening", { url: mesh.url, urls: mesh.urls });
    });
  },
};
