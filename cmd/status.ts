/**
 * `iatp status`: the host status agent (metrics, alerts, dashboard command link). Docker work
 * goes to the compose-agent; only legacy mode touches the socket.
 * @module
 */
import { serviceCommand } from "./shared.ts";
import { statusSpec } from "./status/config.ts";
import { start } from "./status/server.ts";
import { runAsEntry } from "./run.ts";

export { start } from "./status/server.ts";
export type { StatusConfig } from "./status/config.ts";

/** The status command. */
export const command = serviceCommand(statusSpec, start);

// `deno run cmd/status.ts ARGS` is `iatp status ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("status", command);
