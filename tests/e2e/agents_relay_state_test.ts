/**
 * End-to-end: an `iatp action` on its first run creates its state database with the first relay
 * task (not at start; the start takes the writer's lock on an empty file). When that database cannot be created (its base folder, a small tmpfs, is
 * full), the task is held, not lost: `/health` says why, and once the disk has room the task runs
 * once. Mounting needs root; elsewhere the test is reported ignored.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { health, writeConfig, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { type ChildService, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { canMountTmpfs, mountCmd } from "../support/tmpfs.ts";

type Part = { ok: boolean; open?: boolean; reason?: string; last_error?: string };

Deno.test({
  name: "action e2e: a first run whose state database cannot be created holds its relay task",
  ignore: !canMountTmpfs(),
}, async () => {
  const dir = await tempDir("iatp-relay-state-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const env = { IATP_DATA_DIR: dir.path };
  const tokens = {
    "ops-token-0001": ["publish:action.tasks.*", "subscribe:action.results"],
    "agent-token-001": ["subscribe:action.tasks.full-act", "publish:action.results"],
  };
  const relay = await startIatpService(["relay", "--port", "0"], {
    env: { ...env, IATP_RELAY_TOKENS: JSON.stringify(tokens) },
  });
  await Deno.writeTextFile(join(dir.path, "agent.token"), "agent-token-001\n");
  const client = new RelayClient({ url: relay.url, token: "ops-token-0001" });
  const results: RelayEvent[] = [];
  const sub = client.subscribe(["action.results"], (e) => {
    results.push(e);
  }, { since: "0" });
  const base = join(dir.path, "agent");
  await Deno.mkdir(base);
  assert.ok(mountCmd("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", base]));
  const cfg = await writeConfig(dir.path, "action.yaml", {
    agent: { id: "full-act", base_folder: base },
    plugins: { directory: join(dir.path, "plugins") },
    health: { port: 0 },
    relay: { url: relay.url, token: `file:${join(dir.path, "agent.token")}` },
  });
  const filler = join(base, "filler");
  let agent: (ChildService & { url: string }) | undefined;
  try {
    agent = await startIatpService(["action", "--config", cfg], { env });
    const parts = async () => (await health(agent!.url)).components as Record<string, Part>;
    await waitFor(async () => (await parts()).relay.ok, 30_000, "subscribed");
    // A first run: the database is not created until a task needs it (the writer's lock holds
    // an empty file).
    assert.equal((await parts()).state.open, false);
    assert.equal((await Deno.stat(join(base, "data/state/agent.db"))).size, 0);
    await Deno.writeFile(filler, new Uint8Array(4 * 1024 * 1024)).catch(() => {});
    await client.publishNow("action.tasks.full-act", {
      id: "full-1",
      plugin_id: "echo-action",
      instruction_type: "execute",
      input_data: { echo: "kept" },
      timeout_seconds: 30,
    });
    await waitFor(
      async () => !(await parts()).state.ok,
      30_000,
      "the state database failing on /health",
    );
    const failing = await parts();
    assert.equal(failing.state.open, false);
    assert.match(String(failing.state.reason), /disk is full|unable to open/);
    assert.ok(!String(failing.state.reason).includes(base), "no path on /health");
    assert.equal(results.length, 0, "nothing ran or was reported while the task was not recorded");
    await Deno.remove(filler);
    await waitFor(() => results.length >= 1, 30_000, "the held task's result");
    assert.equal(results.length, 1);
    assert.equal(results[0].payload.instruction_id, "full-1");
    assert.equal(results[0].payload.status, "completed");
    assert.deepEqual(results[0].payload.result, { echo: "kept", token: "" });
    const ok = await parts();
    assert.equal(ok.state.open, true);
    assert.equal(ok.state.ok, true);
  } finally {
    sub.close();
    await client.close();
    await agent?.stop("SIGTERM");
    await relay.stop("SIGTERM");
    mountCmd("umount", [base]);
    await dir.remove();
  }
});
