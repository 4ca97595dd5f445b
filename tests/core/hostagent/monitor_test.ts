import assert from "node:assert/strict";
import { sleep } from "../../../core/async/mod.ts";
import { AlertEvaluator, type HostSampler, type HostSnapshot } from "../../../core/host/mod.ts";
import { HostMonitor } from "../../../core/hostagent/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";

function snapshot(n: number): HostSnapshot {
  return {
    timestamp_ms: n,
    cpu_usage_pct: 10,
    memory_total_bytes: 1000,
    memory_used_bytes: 100,
    memory_used_pct: 10,
    disk_total_bytes: 1000,
    disk_used_bytes: 100,
    disk_used_pct: 10,
    load_average: [0, 0, 0],
    uptime_secs: 1,
    cpu_count: 1,
  };
}

Deno.test("the host monitor samples on core/async's timers, never the global setInterval or setTimeout (Node's timers)", async () => {
  let samples = 0;
  const sampler = { sample: () => snapshot(++samples) } as unknown as HostSampler;
  const level = { warning: 80, critical: 95 };
  const alerts = new AlertEvaluator({ cpu: level, memory: level, disk: level }, 5);
  const published: string[] = [];
  const monitor = new HostMonitor(
    sampler,
    alerts,
    (topic) => published.push(topic),
    { agent_id: "a" },
    silentLogger,
  );
  const globals = globalThis as unknown as Record<string, unknown>;
  const saved = { setInterval: globals.setInterval, setTimeout: globals.setTimeout };
  let globalTimers = 0;
  for (const name of ["setInterval", "setTimeout"] as const) {
    const original = saved[name] as (...a: unknown[]) => unknown;
    globals[name] = (...a: unknown[]) => {
      globalTimers++;
      return original(...a);
    };
  }
  try {
    monitor.start(10);
    assert.equal(samples, 1); // the first sample at once
    await sleep(80);
    monitor.stop();
    const seen = samples;
    assert.ok(seen >= 3, `${seen} samples in 80 ms at 10 ms`);
    await sleep(40);
    assert.equal(samples, seen, "sampled after stop");
    assert.equal(published.length, seen);
    assert.equal(monitor.latest().timestamp_ms, seen);
  } finally {
    globals.setInterval = saved.setInterval;
    globals.setTimeout = saved.setTimeout;
  }
  assert.equal(globalTimers, 0);
});
