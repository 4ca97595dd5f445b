/**
 * The compose-agent's view of Docker for others: the daemon's reachability for `/health`, and
 * each watchdog action counted and published (a give-up is also a critical alert).
 * @module
 */
import { every } from "../async/mod.ts";
import type { DockerEngine, WatchdogEvent } from "../docker/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Counter } from "../metrics/mod.ts";
import type { Publish } from "./monitor.ts";

/** How often /health re-checks the daemon. */
const DOCKER_PROBE_INTERVAL_MS = 15_000;

/**
 * Pings the daemon now and every {@linkcode DOCKER_PROBE_INTERVAL_MS}; `state.ok` is the last
 * answer. Logs the first result (with the API version when reachable).
 */
export async function probeDocker(
  engine: DockerEngine,
  socket: string,
  log: Logger,
): Promise<{ state: { ok: boolean }; stop(): void }> {
  const state = { ok: await engine.ping() };
  if (state.ok) {
    log.info("docker daemon reachable", {
      socket,
      api: await engine.apiVersion().catch(() => "unknown"),
    });
  } else log.warn("docker daemon not reachable", { socket });
  // core/async's timer: setInterval would load Deno's Node layer into an idle agent (the
  // listener keeps the process alive meanwhile).
  const timer = every(DOCKER_PROBE_INTERVAL_MS, async () => {
    state.ok = await engine.ping();
  });
  return { state, stop: () => timer.cancel() };
}

/**
 * Counts each watchdog action and publishes it on `status.watchdog`; a give-up is also a
 * critical alert on `status.alerts`. `ident` (agent id, deployment hash) goes on every event.
 */
export function watchdogSink(
  counter: Counter<"action" | "reason">,
  publish: Publish | undefined,
  ident: Record<string, string>,
): (e: WatchdogEvent) => void {
  return (e) => {
    counter.inc({ action: e.action, reason: e.reason ?? "" });
    publish?.("status.watchdog", { ...ident, ...e });
    if (e.action !== "gave_up") return;
    publish?.("status.alerts", {
      ...ident,
      source: "watchdog",
      level: "critical",
      container: e.container,
      message: `watchdog gave up on ${e.container} after ${e.attempt} restarts`,
      reason: e.reason,
      timestamp: e.timestamp,
    });
  };
}
