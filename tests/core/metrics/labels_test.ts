import assert from "node:assert/strict";
import { Counter, Histogram, Registry } from "../../../core/metrics/mod.ts";

Deno.test("labels() handles update the same series as labelled calls, across reset()", async () => {
  const registry = new Registry();
  const c = new Counter({
    name: "c_total",
    help: "C.",
    labelNames: ["a", "b"],
    registers: [registry],
  });
  const h = new Histogram({
    name: "h",
    help: "H.",
    labelNames: ["a"],
    buckets: [1],
    registers: [registry],
  });
  const bound = c.labels({ a: "x", b: 2 });
  bound.inc();
  bound.inc(2);
  c.inc({ a: "x", b: "2" });
  assert.equal(c.get({ a: "x", b: 2 }), 4);
  assert.equal(bound.get(), 4);
  assert.throws(() => bound.inc(-1), RangeError);
  const hb = h.labels({ a: "y" });
  hb.observe(0.5);
  hb.observe(3);
  const text = await registry.metrics();
  assert.match(text, /c_total\{a="x",b="2"\} 4/);
  assert.match(text, /h_bucket\{a="y",le="1"\} 1/);
  assert.match(text, /h_count\{a="y"\} 2/);
  c.reset();
  h.reset();
  bound.inc();
  hb.observe(0.1);
  assert.equal(c.get({ a: "x", b: "2" }), 1, "the handle finds its series again after reset");
  assert.match(await registry.metrics(), /h_sum\{a="y"\} 0.1/);
});
