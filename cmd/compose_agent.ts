/**
 * `iatp compose-agent`: the Docker Compose host agent (signed command API + watchdog), the only
 * component that opens the Docker socket.
 * @module
 */
import { composeAgentSpec } from "./compose_agent/config.ts";
import { start } from "./compose_agent/server.ts";
import { serviceCommand } from "./shared.ts";
import { runAsEntry } from "./run.ts";

export { start } from "./compose_agent/server.ts";
export type { ComposeAgentConfig } from "./compose_agent/config.ts";

/** The compose-agent command. */
export const command = serviceCommand(composeAgentSpec, start);

// `deno run cmd/compose_agent.ts ARGS` is `iatp compose-agent ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("compose-agent", command);
