/**
 * Docker for the host agents: Engine API client over the unix socket, compose runner, the
 * command executor and the watchdog. Only the compose-agent (and the status agent in legacy
 * mode) import this.
 * @module
 */
export * from "./names.ts";
export * from "./log_frames.ts";
export * from "./engine.ts";
export * from "./process.ts";
export * from "./compose.ts";
export * from "./command.ts";
export * from "./apps.ts";
export * from "./executor.ts";
export * from "./watchdog.ts";
export * from "./stacker.ts";
export * from "./counters.ts";
