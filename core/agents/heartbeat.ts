/**
 * The heartbeat loop: `online` on its own timer, independent of running work (plugins run in
 * child processes, so a long plugin never starves it), and `offline` once on graceful stop.
 * @module
 */
import type { Logger } from "../log/mod.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { OrchestratorClient } from "./orchestrator.ts";
import { after, type Timer } from "../async/mod.ts";
import { errorMessage } from "../errors/mod.ts";

/** Heartbeat health for /health. */
export interface HeartbeatStatus {
  ok: boolean;
  last_ok?: string;
  last_error?: string;
  consecutive_failures: number;
}

/** Sends heartbeats every `intervalMs` until stopped. */
export class HeartbeatLoop {
  #timer?: Timer;
  #inFlight: Promise<void> = Promise.resolve();
  #stopped = false;
  #status: HeartbeatStatus = { ok: false, consecutive_failures: 0 };

  constructor(
    private readonly client: OrchestratorClient,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
  ) {}

  /** Current heartbeat health. */
  status(): HeartbeatStatus {
    return { ...this.#status };
  }

  /** Sends the first heartbeat now and schedules the rest. */
  start(): void {
    this.#tick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#inFlight = this.#beat("online").finally(() => {
      if (!this.#stopped) this.#timer = after(this.intervalMs, () => this.#tick());
    });
  }

  async #beat(status: "online" | "offline"): Promise<void> {
    try {
      await this.client.heartbeat(status);
      this.metrics.heartbeats.inc({ status });
      this.#status = { ok: true, last_ok: new Date().toISOString(), consecutive_failures: 0 };
    } catch (err) {
      this.metrics.heartbeatFailures.inc();
      const message = errorMessage(err);
      this.#status = {
        ...this.#status,
        ok: false,
        last_error: message,
        consecutive_failures: this.#status.consecutive_failures + 1,
      };
      this.log.warn("heartbeat failed", { status, error: message });
    }
  }

  /** Stops the timer, waits for a beat in flight, then sends `offline` once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#inFlight;
    await this.#beat("offline");
  }
}
