/**
 * The automation agents: the sensor (sandboxed trigger plugins on schedules, events to the relay
 * or the orchestrator) and the action agent (instructions from the orchestrator or relay tasks,
 * run by sandboxed action plugins, results reported back), with their config, state database,
 * hash-chained audit trail, plugin catalogue and installs, heartbeat and health server.
 *
 * @example
 * ```ts
 * const agent = await startSensorAgent(sensorConfig.resolve({ agent: { id: "s1" } }));
 * await agent.close();
 * ```
 * @module
 */
import type { Service } from "../http/mod.ts";
import type { ActionConfig, SensorConfig } from "./config.ts";
import type { AgentDeps } from "./runtime.ts";

export { type AuditVerification, verifyAuditLines } from "./audit_trail.ts";
export {
  type ActionConfig,
  actionConfig,
  type ActionShape,
  type SensorConfig,
  sensorConfig,
  type SensorShape,
} from "./config.ts";
export { type ComponentHealth, createHealthServer, healthBody } from "./health.ts";
export type { AgentDeps } from "./runtime.ts";
export { type Instruction, wireSchemas } from "./wire.ts";

// Each agent's own code (and what only it uses) loads with its start: a command is one agent.

/**
 * Starts the sensor agent; close() sends heartbeat `offline` and stops the plugin hosts.
 * @throws {ConfigError} naming the setting (a trigger that cannot load, an unwritable folder)
 */
export async function startSensorAgent(config: SensorConfig, deps?: AgentDeps): Promise<Service> {
  const { startSensorAgent } = await import("./sensor_agent.ts");
  return await startSensorAgent(config, deps);
}

/**
 * Starts the action agent; close() waits for running work, sends heartbeat `offline`, stops.
 * @throws {ConfigError} naming the setting (plugin trust, the task queue, an unwritable folder)
 */
export async function startActionAgent(config: ActionConfig, deps?: AgentDeps): Promise<Service> {
  const { startActionAgent } = await import("./action_agent.ts");
  return await startActionAgent(config, deps);
}
