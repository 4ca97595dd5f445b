/**
 * `iatp sensor`: the sensor automation agent. Thin: the config and the agent live in
 * core/agents.
 * @module
 */
import { sensorConfig, startSensorAgent } from "../core/agents/mod.ts";
import { serviceCommand } from "./shared.ts";
import { runAsEntry } from "./run.ts";

/** The sensor's configuration. */
export const spec = sensorConfig;

/** Starts the sensor agent; close() sends heartbeat `offline` and stops the plugin hosts. */
export const start = startSensorAgent;

/** The sensor command. */
export const command = serviceCommand(spec, start);

// `deno run cmd/sensor.ts ARGS` is `iatp sensor ARGS` (cmd/run.ts: the launchers start it so).
if (import.meta.main) await runAsEntry("sensor", command);
