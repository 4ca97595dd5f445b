import assert from "node:assert/strict";
import { AlertEvaluator, type HostSnapshot } from "../../../core/host/mod.ts";

function snap(cpu: number, memory = 10, disk = 10, t = 0): HostSnapshot {
  return {
    timestamp_ms: t,
    cpu_usage_pct: cpu,
    memory_total_bytes: 100,
    memory_used_bytes: memory,
    memory_used_pct: memory,
    disk_total_bytes: 100,
    disk_used_bytes: disk,
    disk_used_pct: disk,
    load_average: [0, 0, 0],
    uptime_secs: 1,
    cpu_count: 1,
  };
}

Deno.test("alerts fire once per level, escalate, de-duplicate and recover", () => {
  const ev = new AlertEvaluator();
  assert.deepEqual(ev.evaluate(snap(50)), []);
  const warn = ev.evaluate(snap(85));
  assert.equal(warn.length, 1);
  assert.deepEqual(
    [warn[0].metric, warn[0].kind, warn[0].level, warn[0].threshold_pct],
    ["cpu", "firing", "warning", 80],
  );
  assert.deepEqual(ev.evaluate(snap(90)), [], "same level: no duplicate");
  const crit = ev.evaluate(snap(96));
  assert.deepEqual([crit[0].level, crit[0].previous], ["critical", "warning"]);
  assert.deepEqual(ev.evaluate(snap(94)), [], "inside the hysteresis margin");
  const down = ev.evaluate(snap(70));
  assert.deepEqual([down[0].kind, down[0].level, down[0].previous], [
    "recovered",
    "ok",
    "critical",
  ]);
  assert.deepEqual(ev.levels(), { cpu: "ok", memory: "ok", disk: "ok" });
});

Deno.test("each metric has its own thresholds and state", () => {
  const ev = new AlertEvaluator({
    cpu: { warning: 80, critical: 95 },
    memory: { warning: 50, critical: 60 },
    disk: { warning: 80, critical: 90 },
  }, 0);
  const events = ev.evaluate(snap(10, 55, 91));
  assert.deepEqual(
    events.map((e) => `${e.metric}:${e.level}`).sort(),
    ["disk:critical", "memory:warning"],
  );
  assert.deepEqual(ev.evaluate(snap(10, 49, 91)).map((e) => `${e.metric}:${e.kind}`), [
    "memory:recovered",
  ]);
});
