/**
 * The status agent's sampling loop: a host snapshot every interval, threshold alerts over it,
 * and fan-out to relay topics (`status.metrics`, `status.alerts`) and stream listeners.
 * @module
 */
import { every, type Timer } from "../async/mod.ts";
import type { AlertEvaluator, AlertEvent, HostSampler, HostSnapshot } from "../host/mod.ts";
import type { Logger } from "../log/mod.ts";

/** Where events go (the relay client's non-blocking publish). */
export type Publish = (topic: string, payload: Record<string, unknown>) => void;

/** Samples, alerts and notifies. */
export class HostMonitor {
  #latest: HostSnapshot | undefined;
  /** The sampling timer: core/async's (Deno's global setInterval is Node's timers). */
  #timer: Timer | undefined;
  #listeners = new Set<(s: HostSnapshot) => void>();
  /** Alert events so far (for metrics). */
  alertCount = 0;

  constructor(
    private readonly sampler: HostSampler,
    private readonly alerts: AlertEvaluator,
    private readonly publish: Publish,
    private readonly ident: Record<string, unknown>,
    private readonly log: Logger,
  ) {}

  /** Samples once now, then every `intervalMs`. */
  start(intervalMs: number): void {
    this.tick();
    this.#timer = every(intervalMs, () => this.tick());
  }

  /** Stops sampling. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#listeners.clear();
  }

  /** The latest snapshot (samples now if there is none yet). */
  latest(): HostSnapshot {
    return this.#latest ?? this.tick();
  }

  /** Subscribes to every new snapshot; returns the unsubscribe function. */
  listen(fn: (s: HostSnapshot) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Number of stream listeners. */
  get listeners(): number {
    return this.#listeners.size;
  }

  /** One sample: store, alert, publish, notify. */
  tick(): HostSnapshot {
    let snap: HostSnapshot;
    try {
      snap = this.sampler.sample();
    } catch (err) {
      this.log.warn("host sample failed", { err });
      if (this.#latest) return this.#latest;
      throw err;
    }
    this.#latest = snap;
    for (const e of this.alerts.evaluate(snap)) this.#alert(e);
    this.publish("status.metrics", { ...this.ident, ...snap });
    for (const fn of this.#listeners) {
      try {
        fn(snap);
      } catch (err) {
        this.log.warn("metrics listener failed", { err });
      }
    }
    return snap;
  }

  #alert(e: AlertEvent): void {
    this.alertCount++;
    const message = e.kind === "firing"
      ? `${e.metric} at ${e.value_pct}% reached ${e.level} (${e.threshold_pct}%)`
      : `${e.metric} back to ${e.level} at ${e.value_pct}%`;
    this.log[e.kind === "firing" ? "warn" : "info"]("host alert", { ...e });
    this.publish("status.alerts", { ...this.ident, source: "host", message, ...e });
  }
}
