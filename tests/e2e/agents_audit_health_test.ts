/**
 * End-to-end: an `iatp sensor` whose audit folder (a small tmpfs) fills up, then turns read-only,
 * says so on `/health` (degraded, the OS reason, no path), and is ok again once it can write; one
 * whose whole base folder fills up (state database too) keeps running and says so as well.
 * Mounting needs root; elsewhere the tests are reported ignored.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { health, writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";
import { canMountTmpfs, mountCmd } from "../support/tmpfs.ts";

const TOKEN = "sensor-audit-token";

type Audit = { ok: boolean; reason?: string; failures: number; records: number };

/** Starts a sensor on `base` whose fixture trigger emits a new event every 100 ms. */
async function startSensor(dir: string, base: string, dedupWindow: string) {
  const orch = await startFakeOrchestrator({ agentId: "sensor-a", token: TOKEN });
  const cfg = await writeConfig(dir, "s.yaml", {
    agent: { id: "sensor-a", base_folder: base, heartbeat: "1s" },
    api: { base_url: orch.url },
    security: { auth: { api_key: TOKEN } },
    plugins: { directory: join(dir, "plugins") },
    health: { port: 0 },
    sensor: {
      triggers: [{ plugin_id: "fixed-trigger", interval: "100ms", config: { type: "t" } }],
      publish_to: "orchestrator",
      dedup_window: dedupWindow,
    },
  });
  const sensor = await startIatpService(["sensor", "--config", cfg], {
    env: { IATP_DATA_DIR: dir },
  });
  return { orch, sensor };
}

const mountable = canMountTmpfs();

Deno.test({
  name: "sensor e2e: a full, then read-only, audit folder makes /health degraded, with the reason",
  ignore: !mountable,
}, async () => {
  const dir = await tempDir("iatp-sensor-audit-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const base = join(dir.path, "sensor-state");
  const folder = join(base, "logs/audit");
  await Deno.mkdir(folder, { recursive: true });
  assert.ok(mountCmd("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", folder]));
  const { orch, sensor } = await startSensor(dir.path, base, "0s");
  const audit = async () => (await health(sensor.url)).components as Record<string, Audit>;
  try {
    await waitFor(async () => (await audit()).audit.records > 0, 30_000, "records written");
    assert.equal((await health(sensor.url)).status, "ok");

    // Another file takes the rest of the folder's room.
    const filler = join(folder, "filler");
    await Deno.writeFile(filler, new Uint8Array(512 * 1024)).catch(() => {});
    await waitFor(async () => !(await audit()).audit.ok, 30_000, "audit not ok");
    const full = await health(sensor.url);
    assert.equal(full.status, "degraded");
    const a = (full.components as Record<string, Audit>).audit;
    assert.match(a.reason ?? "", /no space left on device/);
    assert.ok(a.failures > 0);
    assert.ok(!JSON.stringify(full).includes(dir.path), "no path in the health answer");

    // Room again: the next record is written and health is ok.
    await Deno.remove(filler);
    await waitFor(async () => (await health(sensor.url)).status === "ok", 30_000, "ok again");

    // Read-only: the probe of the file says so even between records.
    assert.ok(mountCmd("mount", ["-o", "remount,ro", folder]));
    await waitFor(
      async () => /read-only file system/.test((await audit()).audit.reason ?? ""),
      30_000,
      "read-only reported",
    );
    assert.equal((await health(sensor.url)).status, "degraded");
    assert.ok(mountCmd("mount", ["-o", "remount,rw", folder]));
    await waitFor(async () => (await health(sensor.url)).status === "ok", 30_000, "ok after rw");
  } finally {
    const status = await sensor.stop("SIGTERM");
    await orch.close();
    mountCmd("umount", [folder]);
    await dir.remove();
    assert.equal(status.code, 0);
  }
});

Deno.test({
  name:
    "sensor e2e: a full base folder (state database and trail) degrades, never stops the sensor",
  ignore: !mountable,
}, async () => {
  const dir = await tempDir("iatp-sensor-full-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const base = join(dir.path, "sensor-state");
  await Deno.mkdir(base, { recursive: true });
  assert.ok(mountCmd("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", base]));
  // A dedup window shorter than the run keeps the sensor writing its state and trail after the
  // folder fills: with one of an hour, a first detection made before the filler was the last
  // write, and nothing failed to report (a busy host ran one before the filler).
  const { orch, sensor } = await startSensor(dir.path, base, "300ms");
  type Part = { ok: boolean; reason?: string };
  const parts = async () => (await health(sensor.url)).components as Record<string, Part>;
  const filler = join(base, "filler");
  try {
    await waitFor(async () => (await health(sensor.url)).status === "ok", 30_000, "ok first");
    await Deno.writeFile(filler, new Uint8Array(4 * 1024 * 1024)).catch(() => {});
    await waitFor(
      async () => {
        const p = await parts();
        return !p.state.ok && !p.audit.ok;
      },
      30_000,
      "state and audit not ok",
    );
    const h = await health(sensor.url);
    assert.equal(h.status, "degraded");
    assert.match(String(h.reason), /audit: .*no space left on device/);
    assert.match(String(h.reason), /state: last write failed: database or disk is full/);
    await Deno.remove(filler);
    await waitFor(async () => (await health(sensor.url)).status === "ok", 30_000, "ok again");
  } finally {
    const status = await sensor.stop("SIGTERM");
    await orch.close();
    mountCmd("umount", [base]);
    await dir.remove();
    assert.equal(status.code, 0, "the sensor ran to the end");
  }
});
