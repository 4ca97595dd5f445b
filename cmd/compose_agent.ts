/**
 * `iatp compose-agent`: the Docker Compose host agent (signed command API + watchdog), the only
 * component that opens the Docker socket.
 * @module
 */
import { composeAgentSpec } from "./compose_agent/config.ts";
import { start } from "./compose_agent/server.ts";
import { serviceCommand } from "./shared.ts";

export { start } from "./compose_agent/server.ts";
export type { ComposeAgentConfig } from "./compose_agent/config.ts";

/** The compose-agent command. */
export const command = serviceCommand(composeAgentSpec, start);
