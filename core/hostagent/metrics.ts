/** The host agents' Prometheus series: compose-agent command counters and host gauges. @module */
import { Counter, Gauge, type Registry } from "../metrics/mod.ts";
import type { HostMonitor } from "./monitor.ts";

/** The compose-agent's counters: commands run, signed requests refused, watchdog actions. */
export function composeAgentCounters(registry: Registry) {
  return {
    commands: new Counter({
      name: "iatp_compose_agent_commands_total",
      help: "Commands executed by type and status.",
      labelNames: ["type", "status"] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: "iatp_compose_agent_auth_rejected_total",
      help: "Signed requests rejected, by reason.",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    watchdog: new Counter({
      name: "iatp_watchdog_actions_total",
      help: "Watchdog actions by action and reason.",
      labelNames: ["action", "reason"] as const,
      registers: [registry],
    }),
    watchdogPasses: new Counter({
      name: "iatp_watchdog_passes_total",
      help: "Watchdog passes over the watched containers.",
      registers: [registry],
    }),
  };
}

/** The status agent's counter of dashboard commands by type, executor and status. */
export function statusCommandCounter(registry: Registry) {
  return new Counter({
    name: "iatp_status_commands_total",
    help: "Dashboard commands by type, executor and status.",
    labelNames: ["type", "executed_by", "status"] as const,
    registers: [registry],
  });
}

/** Gauges of the monitor's latest host sample (read at scrape time). */
export function registerHostGauges(registry: Registry, m: HostMonitor): void {
  const gauge = (
    name: string,
    help: string,
    pick: (s: ReturnType<HostMonitor["latest"]>) => number,
  ) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(m.latest()));
      },
    });
  gauge("iatp_host_cpu_usage_percent", "Host CPU busy percent.", (s) => s.cpu_usage_pct);
  gauge("iatp_host_memory_used_bytes", "Host memory in use.", (s) => s.memory_used_bytes);
  gauge("iatp_host_memory_total_bytes", "Host memory total.", (s) => s.memory_total_bytes);
  gauge(
    "iatp_host_disk_used_bytes",
    "Used bytes of the watched filesystem.",
    (s) => s.disk_used_bytes,
  );
  gauge("iatp_host_disk_total_bytes", "Size of the watched filesystem.", (s) => s.disk_total_bytes);
  gauge("iatp_host_load1", "1-minute load average.", (s) => s.load_average[0]);
  gauge("iatp_host_uptime_seconds", "Seconds since boot.", (s) => s.uptime_secs);
  gauge("iatp_host_alerts_total", "Alert level changes since start.", () => m.alertCount);
}
