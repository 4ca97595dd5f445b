/**
 * Adding up the expositions of several isolates: same series summed, process gauges taken once,
 * families kept together, series seen in one part only kept.
 * @module
 */
import assert from "node:assert/strict";
import {
  Counter,
  Gauge,
  mergeExpositions,
  Registry,
  sumOfMetric,
} from "../../../core/metrics/mod.ts";

function isolate(hits: Record<string, number>, rss: number): Registry {
  const r = new Registry();
  r.setDefaultLabels({ service: "s" });
  const c = new Counter({
    name: "hits_total",
    help: "Hits.",
    labelNames: ["route"],
    registers: [r],
  });
  for (const [route, n] of Object.entries(hits)) c.inc({ route }, n);
  new Gauge({ name: "open", help: "Open.", registers: [r] }).set(2);
  new Gauge({ name: "process_resident_memory_bytes", help: "RSS.", registers: [r] }).set(rss);
  return r;
}

Deno.test("mergeExpositions sums series, takes process gauges once, keeps families whole", async () => {
  const a = await isolate({ "/a": 1, "/b": 2 }, 100).metrics();
  const b = await isolate({ "/a": 4, "/c": 8 }, 120).metrics();
  const merged = mergeExpositions([a, b]);
  assert.equal(
    merged,
    [
      "# HELP hits_total Hits.",
      "# TYPE hits_total counter",
      'hits_total{route="/a",service="s"} 5',
      'hits_total{route="/b",service="s"} 2',
      'hits_total{route="/c",service="s"} 8',
      "# HELP open Open.",
      "# TYPE open gauge",
      'open{service="s"} 4',
      "# HELP process_resident_memory_bytes RSS.",
      "# TYPE process_resident_memory_bytes gauge",
      'process_resident_memory_bytes{service="s"} 120',
      "",
    ].join("\n"),
  );
  assert.equal(sumOfMetric(merged, "hits_total"), 15);
  assert.equal(mergeExpositions([]), "");
});

Deno.test("the last idle reclaim's pause is the longest isolate's, not a sum no isolate paused", () => {
  // With --workers each isolate reclaims its own heap: two 50 ms pauses are not a 100 ms one.
  const part = (pause: number, freed: number) =>
    [
      "# HELP iatp_memory_reclaims_total Memory-reducing collections.",
      "# TYPE iatp_memory_reclaims_total counter",
      'iatp_memory_reclaims_total{service="relay"} 1',
      "# HELP iatp_memory_reclaim_pause_seconds Pause of the last idle memory reclaim.",
      "# TYPE iatp_memory_reclaim_pause_seconds gauge",
      `iatp_memory_reclaim_pause_seconds{service="relay"} ${pause}`,
      "# HELP iatp_memory_reclaim_freed_bytes Heap given back.",
      "# TYPE iatp_memory_reclaim_freed_bytes gauge",
      `iatp_memory_reclaim_freed_bytes{service="relay"} ${freed}`,
      "",
    ].join("\n");
  const merged = mergeExpositions([part(0.05, 1000), part(0.07, 3000)]);
  assert.match(merged, /^iatp_memory_reclaims_total\{service="relay"\} 2$/m);
  assert.match(merged, /^iatp_memory_reclaim_pause_seconds\{service="relay"\} 0\.07$/m);
  assert.match(merged, /^iatp_memory_reclaim_freed_bytes\{service="relay"\} 4000$/m);
});
