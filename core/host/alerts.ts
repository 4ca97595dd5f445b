/**
 * Threshold alerts over host snapshots: a metric enters `warning` or `critical` when it reaches
 * its threshold, emits one event per level change (de-duplicated while the level holds), and a
 * `recovered` event when it falls back below the warning threshold minus a hysteresis margin.
 * @module
 */
import type { HostSnapshot } from "./metrics.ts";

/** Alert levels, mildest first. */
export type AlertLevel = "ok" | "warning" | "critical";

/** Warning and critical thresholds in percent. */
export interface Threshold {
  warning: number;
  critical: number;
}

/** Thresholds per metric (defaults 80 / 95 %). */
export interface AlertThresholds {
  cpu: Threshold;
  memory: Threshold;
  disk: Threshold;
}

/** Default thresholds from upstream. */
const DEFAULT_THRESHOLDS: AlertThresholds = {
  cpu: { warning: 80, critical: 95 },
  memory: { warning: 80, critical: 95 },
  disk: { warning: 80, critical: 95 },
};
/** Default percentage points a value must drop below a threshold to leave its level. */
const DEFAULT_HYSTERESIS_PCT = 2;

/** One level change. */
export interface AlertEvent {
  metric: keyof AlertThresholds;
  /** `firing` when the level rose, `recovered` when it fell. */
  kind: "firing" | "recovered";
  level: AlertLevel;
  previous: AlertLevel;
  value_pct: number;
  threshold_pct: number;
  timestamp_ms: number;
}

const VALUE_OF: Record<keyof AlertThresholds, (s: HostSnapshot) => number> = {
  cpu: (s) => s.cpu_usage_pct,
  memory: (s) => s.memory_used_pct,
  disk: (s) => s.disk_used_pct,
};

const RANK: Record<AlertLevel, number> = { ok: 0, warning: 1, critical: 2 };

/** Stateful evaluator: feed it snapshots, get level changes. */
export class AlertEvaluator {
  #levels: Record<keyof AlertThresholds, AlertLevel> = { cpu: "ok", memory: "ok", disk: "ok" };

  constructor(
    readonly thresholds: AlertThresholds = DEFAULT_THRESHOLDS,
    readonly hysteresisPct = DEFAULT_HYSTERESIS_PCT,
  ) {}

  /** Current level per metric. */
  levels(): Record<keyof AlertThresholds, AlertLevel> {
    return { ...this.#levels };
  }

  /** Evaluates one snapshot; returns the events for metrics whose level changed. */
  evaluate(s: HostSnapshot): AlertEvent[] {
    const out: AlertEvent[] = [];
    for (const metric of Object.keys(VALUE_OF) as Array<keyof AlertThresholds>) {
      const value = VALUE_OF[metric](s);
      const t = this.thresholds[metric];
      const prev = this.#levels[metric];
      const level = this.#levelFor(value, t, prev);
      if (level === prev) continue;
      this.#levels[metric] = level;
      const rising = RANK[level] > RANK[prev];
      out.push({
        metric,
        kind: rising ? "firing" : "recovered",
        level,
        previous: prev,
        value_pct: value,
        threshold_pct: level === "critical" ? t.critical : t.warning,
        timestamp_ms: s.timestamp_ms,
      });
    }
    return out;
  }

  #levelFor(value: number, t: Threshold, prev: AlertLevel): AlertLevel {
    const h = this.hysteresisPct;
    if (value >= t.critical) return "critical";
    // Leaving a level needs a margin below its threshold, so a value hovering at the line
    // does not flap between levels on every sample.
    if (prev === "critical" && value > t.critical - h) return "critical";
    if (value >= t.warning) return "warning";
    if (prev !== "ok" && value > t.warning - h) return "warning";
    return "ok";
  }
}
