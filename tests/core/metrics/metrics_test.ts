import assert from "node:assert/strict";
import {
  Counter,
  Gauge,
  Histogram,
  MAX_SERIES_PER_METRIC,
  Registry,
} from "../../../core/metrics/mod.ts";

Deno.test("counter, gauge and histogram render the text exposition format", async () => {
  const r = new Registry();
  r.setDefaultLabels({ service: "s" });
  const c = new Counter({ name: "a_total", help: "A.", labelNames: ["k"], registers: [r] });
  const g = new Gauge({ name: "g", help: "G.", registers: [r] });
  const h = new Histogram({ name: "h_seconds", help: "H.", buckets: [0.1, 1], registers: [r] });
  c.inc({ k: "x" });
  c.inc({ k: "x" }, 2);
  g.set(5);
  g.dec(2);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(3);
  const text = await r.metrics();
  assert.equal(
    text,
    [
      "# HELP a_total A.",
      "# TYPE a_total counter",
      'a_total{k="x",service="s"} 3',
      "# HELP g G.",
      "# TYPE g gauge",
      'g{service="s"} 3',
      "# HELP h_seconds H.",
      "# TYPE h_seconds histogram",
      'h_seconds_bucket{service="s",le="0.1"} 1',
      'h_seconds_bucket{service="s",le="1"} 2',
      'h_seconds_bucket{service="s",le="+Inf"} 3',
      'h_seconds_sum{service="s"} 3.55',
      'h_seconds_count{service="s"} 3',
      "",
    ].join("\n"),
  );
  assert.equal(r.contentType, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("label values are escaped; counters refuse to go down; names are checked", async () => {
  const r = new Registry();
  const c = new Counter({
    name: "e_total",
    help: "multi\nline",
    labelNames: ["v"],
    registers: [r],
  });
  c.inc({ v: 'a"b\\c\nd' });
  const text = await r.metrics();
  assert.ok(text.includes('e_total{v="a\\"b\\\\c\\nd"} 1'), text);
  assert.ok(text.includes("# HELP e_total multi\\nline"));
  assert.throws(() => c.inc({ v: "x" }, -1), RangeError);
  assert.throws(() => new Counter({ name: "bad-name", help: "x" }));
  assert.throws(() => new Counter({ name: "e_total", help: "dup", registers: [r] }));
});

Deno.test("collect refreshes a gauge before rendering", async () => {
  const r = new Registry();
  let n = 0;
  new Gauge({
    name: "ticks",
    help: "T.",
    registers: [r],
    collect() {
      this.set(++n);
    },
  });
  assert.match(await r.metrics(), /ticks 1/);
  assert.match(await r.metrics(), /ticks 2/);
});

Deno.test("series per metric are bounded", () => {
  const c = new Counter({ name: "many_total", help: "M.", labelNames: ["id"] });
  for (let i = 0; i < MAX_SERIES_PER_METRIC + 50; i++) c.inc({ id: String(i) });
  // deno-lint-ignore no-explicit-any -- reading the protected series map in a test
  assert.ok((c as any).series.size <= MAX_SERIES_PER_METRIC + 1);
});
