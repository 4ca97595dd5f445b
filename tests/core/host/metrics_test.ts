import assert from "node:assert/strict";
import { HostSampler } from "../../../core/host/mod.ts";
import {
  cpuUsagePct,
  diskUsage,
  parseCpuCount,
  parseCpuTimes,
  parseLoadavg,
  parseMeminfo,
  parseUptime,
} from "../../../core/host/proc.ts";
import { tempDir } from "../../helpers.ts";

const STAT1 = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n" +
  "cpu1 50 0 50 350 50 0 0 0 0 0\nintr 1\n";
const STAT2 = "cpu  250 0 150 800 100 0 0 0 0 0\ncpu0 1 0 1 1 1 0 0 0 0 0\n" +
  "cpu1 1 0 1 1 1 0 0 0 0 0\n";
const MEMINFO = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n";

Deno.test("proc parsers read the fields the snapshot needs", () => {
  const a = parseCpuTimes(STAT1);
  assert.deepEqual(a, { idle: 800, total: 1000 });
  const b = parseCpuTimes(STAT2);
  // 300 jiffies passed, 100 of them idle: 66.67 % busy.
  assert.equal(cpuUsagePct(a, b), 66.67);
  assert.equal(cpuUsagePct(b, b), 0);
  assert.equal(parseCpuCount(STAT1), 2);
  assert.deepEqual(parseMeminfo(MEMINFO), { totalBytes: 1024000, usedBytes: 768000 });
  assert.deepEqual(
    parseMeminfo("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 10 kB\nCached: 20 kB\n"),
    { totalBytes: 102400, usedBytes: 61440 },
    "kernels without MemAvailable",
  );
  assert.deepEqual(parseLoadavg("0.50 1.25 2.00 1/234 5678\n"), [0.5, 1.25, 2]);
  assert.equal(parseUptime("12345.67 999.0\n"), 12345.67);
  assert.throws(() => parseCpuTimes("intr 1\n"), /no aggregate cpu line/);
  assert.throws(() => parseMeminfo("Foo: 1 kB"), /MemTotal/);
});

Deno.test("sampler builds the PROTOCOLS snapshot from a fixture /proc", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir.path}/stat`, STAT1);
    await Deno.writeTextFile(`${dir.path}/meminfo`, MEMINFO);
    await Deno.writeTextFile(`${dir.path}/loadavg`, "0.1 0.2 0.3 1/1 1\n");
    await Deno.writeTextFile(`${dir.path}/uptime`, "42.5 1\n");
    const sampler = new HostSampler({
      procRoot: dir.path,
      diskPath: "/ignored",
      now: () => 1234,
      disk: () => ({ totalBytes: 1000, usedBytes: 900, usedPct: 90 }),
    });
    sampler.sample();
    await Deno.writeTextFile(`${dir.path}/stat`, STAT2);
    assert.deepEqual(sampler.sample(), {
      timestamp_ms: 1234,
      cpu_usage_pct: 66.67,
      memory_total_bytes: 1024000,
      memory_used_bytes: 768000,
      memory_used_pct: 75,
      disk_total_bytes: 1000,
      disk_used_bytes: 900,
      disk_used_pct: 90,
      load_average: [0.1, 0.2, 0.3],
      uptime_secs: 42.5,
      cpu_count: 2,
    });
  } finally {
    await dir.remove();
  }
});

Deno.test("sampler works on this machine (system APIs) and its filesystem", () => {
  const s = new HostSampler({ diskPath: Deno.cwd() }).sample();
  assert.ok(s.memory_total_bytes > 0 && s.memory_used_bytes <= s.memory_total_bytes);
  assert.ok(s.cpu_count >= 1);
  assert.ok(s.cpu_usage_pct >= 0 && s.cpu_usage_pct <= 100);
  assert.ok(s.uptime_secs > 0);
  const d = diskUsage(Deno.cwd());
  assert.ok(d.totalBytes > 0 && d.usedPct >= 0 && d.usedPct <= 100);
});
