/**
 * Prometheus metrics of the automation agents, registered on the health server's registry:
 * triggers, executions by result, durations, queue depth, heartbeats and their failures.
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "../metrics/mod.ts";

/** Execution duration buckets in seconds, 10 ms to 10 min. */
const EXECUTION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** The agent metric set. */
export interface AgentMetrics {
  triggers: Counter<"plugin" | "result">;
  executions: Counter<"plugin" | "result" | "error_type">;
  duration: Histogram<"plugin" | "result">;
  queueDepth: Gauge;
  running: Gauge;
  heartbeats: Counter<"status">;
  heartbeatFailures: Counter;
  orchestrator: Counter<"call" | "outcome">;
  pluginRestarts: Counter<"plugin">;
  relayDropped: Counter;
}

/** Registers the agent metrics on `registry`. */
export function createAgentMetrics(registry: Registry): AgentMetrics {
  const registers = [registry];
  return {
    triggers: new Counter({
      name: "iatp_agent_triggers_total",
      help: "Trigger events by plugin and result (emitted, deduplicated, failed).",
      labelNames: ["plugin", "result"] as const,
      registers,
    }),
    executions: new Counter({
      name: "iatp_agent_executions_total",
      help: "Instructions finished by plugin, result (completed, failed) and error type.",
      labelNames: ["plugin", "result", "error_type"] as const,
      registers,
    }),
    duration: new Histogram({
      name: "iatp_agent_execution_duration_seconds",
      help: "Instruction and trigger run time by plugin and result.",
      labelNames: ["plugin", "result"] as const,
      buckets: EXECUTION_BUCKETS,
      registers,
    }),
    queueDepth: new Gauge({
      name: "iatp_agent_queue_depth",
      help: "Instructions waiting for a worker.",
      registers,
    }),
    running: new Gauge({
      name: "iatp_agent_tasks_running",
      help: "Instructions running now.",
      registers,
    }),
    heartbeats: new Counter({
      name: "iatp_agent_heartbeats_total",
      help: "Heartbeats delivered, by status sent.",
      labelNames: ["status"] as const,
      registers,
    }),
    heartbeatFailures: new Counter({
      name: "iatp_agent_heartbeat_failures_total",
      help: "Heartbeats that could not be delivered.",
      registers,
    }),
    orchestrator: new Counter({
      name: "iatp_agent_orchestrator_requests_total",
      help: "Orchestrator HTTP attempts by call and outcome (status code or error).",
      labelNames: ["call", "outcome"] as const,
      registers,
    }),
    pluginRestarts: new Counter({
      name: "iatp_agent_plugin_restarts_total",
      help: "Plugin runners restarted after a failure.",
      labelNames: ["plugin"] as const,
      registers,
    }),
    relayDropped: new Counter({
      name: "iatp_agent_relay_dropped_total",
      help: "Relay publishes dropped because the send buffer was full.",
      registers,
    }),
  };
}
