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
export { startActionAgent } from "./action_agent.ts";
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
export { startSensorAgent } from "./sensor_agent.ts";
export { type Instruction, wireSchemas } from "./wire.ts";
