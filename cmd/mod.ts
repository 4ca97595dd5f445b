/**
 * The subcommand table: name, one-line purpose, and a lazy loader so `iatp relay` loads only
 * the relay's modules. `help` and `systemd` are handed the table rather than importing it, so
 * no command file imports this one.
 * @module
 */
import { type CommandEntry, findCommand as findIn, globalUsage as usageOf } from "./command.ts";

export type { Command, CommandEntry } from "./command.ts";

/** Every subcommand, in the order `iatp --help` lists them. */
export const COMMANDS: CommandEntry[] = [
  {
    name: "sidecar",
    summary: "IATP trust proxy in front of an agent (manifest, PII blocking, trust score)",
    load: () => import("./sidecar.ts").then((m) => m.command),
  },
  {
    name: "relay",
    summary: "resumable SSE pub/sub relay for the agent mesh",
    load: () => import("./relay.ts").then((m) => m.command),
  },
  {
    name: "policy",
    summary: "Cedar policy decisions for access intents",
    load: () => import("./policy.ts").then((m) => m.command),
  },
  {
    name: "audit",
    summary: "tamper-evident Merkle ledger with signed receipts",
    load: () => import("./audit.ts").then((m) => m.command),
  },
  {
    name: "dashboard",
    summary: "live web dashboard of the mesh",
    load: () => import("./dashboard.ts").then((m) => m.command),
  },
  {
    name: "sensor",
    summary: "automation agent running sandboxed trigger plugins",
    load: () => import("./sensor.ts").then((m) => m.command),
  },
  {
    name: "action",
    summary: "automation agent running sandboxed action plugins",
    load: () => import("./action.ts").then((m) => m.command),
  },
  {
    name: "compose-agent",
    summary: "Docker Compose host agent with signed commands and a watchdog",
    load: () => import("./compose_agent.ts").then((m) => m.command),
  },
  {
    name: "status",
    summary: "host status agent: metrics, alerts, dashboard command link",
    load: () => import("./status.ts").then((m) => m.command),
  },
  {
    name: "token",
    summary: "mesh credentials: make an issuer key, issue and inspect scoped credentials",
    load: () => import("./token.ts").then((m) => m.command),
  },
  {
    name: "plugin",
    summary: "plugin author tools: validate a plugin folder, run it once in the sandbox",
    load: () => import("./plugin.ts").then((m) => m.command),
  },
  {
    name: "plugin-host",
    summary: "internal: hosts one sandboxed plugin for a parent agent",
    hidden: true,
    load: () => import("./plugin_host.ts").then((m) => m.command),
  },
  {
    name: "__grants",
    summary: "internal: the paths a command line names, for the launchers",
    hidden: true,
    load: () => import("./grants.ts").then((m) => m.grantsCommand(COMMANDS)),
  },
  {
    name: "systemd",
    summary: "print or write hardened systemd units per subcommand",
    load: () => import("./systemd.ts").then((m) => m.systemdCommand(COMMANDS)),
  },
  {
    name: "config",
    summary: "show a command's effective configuration and sources; check a config file",
    load: () => import("./config.ts").then((m) => m.configCommand(COMMANDS)),
  },
  {
    name: "up",
    summary: "run the whole mesh with a demo agent in one process",
    load: () => import("./up.ts").then((m) => m.command),
  },
  {
    name: "version",
    summary: "print version, git commit and Deno version",
    load: () => import("./version.ts").then((m) => m.command),
  },
  {
    name: "help",
    summary: "show help for iatp or a subcommand",
    load: () => import("./help.ts").then((m) => m.helpCommand(COMMANDS)),
  },
];

/** Finds a command by name. */
export function findCommand(name: string): CommandEntry | undefined {
  return findIn(COMMANDS, name);
}

/** The top-level usage text. */
export function globalUsage(): string {
  return usageOf(COMMANDS);
}
