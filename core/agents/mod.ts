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
import { lateImport } from "../config/mod.ts";
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

/**
 * Starts the sensor agent. Its code (the trigger loops) loads now, by a computed specifier, so an
 * action agent's process never loads it (nor a sensor's the action agent's: about 0.4 MB idle).
 * @throws {ConfigError} as the agent's start does, or the load's own error.
 */
export async function startSensorAgent(config: SensorConfig, deps?: AgentDeps): Promise<Service> {
  const agent = await lateImport<typeof import("./sensor_agent.ts")>(
    "./sensor_agent.ts",
    import.meta.url,
  );
  return await agent.startSensorAgent(config, deps);
}

/**
 * Starts the action agent (instructions, relay tasks, result reports); its code loads now, as
 * {@linkcode startSensorAgent}'s does.
 * @throws {ConfigError} as the agent's start does, or the load's own error.
 */
export async function startActionAgent(config: ActionConfig, deps?: AgentDeps): Promise<Service> {
  const agent = await lateImport<typeof import("./action_agent.ts")>(
    "./action_agent.ts",
    import.meta.url,
  );
  return await agent.startActionAgent(config, deps);
}
