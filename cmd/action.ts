/**
 * `iatp action`: the action automation agent. Thin: the config and the agent live in
 * core/agents.
 * @module
 */
import { actionConfig, startActionAgent } from "../core/agents/mod.ts";
import { serviceCommand } from "./shared.ts";
import { runAsEntry } from "./run.ts";

/** The action agent's configuration. */
export const spec = actionConfig;

/** Starts the action agent; close() waits for running work, sends heartbeat `offline`, stops. */
export const start = startActionAgent;

/** The action command. */
export const command = serviceCommand(spec, start);

// `deno run cmd/action.ts ARGS` is `iatp action ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("action", command);
