/**
 * Control-plane counters: how many commands each executor (status panel or compose agent) ran
 * and which ran last, as `/health` and `/api/v1/diagnostics/commands` report them.
 * @module
 */

/** The counters, in upstream's field names. */
export interface ControlPlaneMetrics {
  status_panel_count: number;
  compose_agent_count: number;
  total_count: number;
  last_control_plane: string | null;
  /** Unix ms of the last command; 0 before the first (as upstream). */
  last_command_timestamp_ms: number;
}

/** Counts executed commands by executor. */
export class CommandCounters {
  #m: ControlPlaneMetrics = {
    status_panel_count: 0,
    compose_agent_count: 0,
    total_count: 0,
    last_control_plane: null,
    last_command_timestamp_ms: 0,
  };

  /** Records one command run by `executedBy` (`compose_agent`, else the status panel). */
  record(executedBy: string | undefined, now = Date.now()): void {
    const m = this.#m;
    const by = executedBy === "compose_agent" ? "compose_agent" : "status_panel";
    if (by === "compose_agent") m.compose_agent_count++;
    else m.status_panel_count++;
    m.total_count++;
    m.last_control_plane = by;
    m.last_command_timestamp_ms = now;
  }

  /** A copy of the counters. */
  snapshot(): ControlPlaneMetrics {
    return { ...this.#m };
  }
}
