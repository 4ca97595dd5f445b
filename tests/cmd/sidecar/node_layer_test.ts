// The sidecar serves proxied requests (workers, a durable recorder) without loading Deno's Node layer.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../../helpers.ts";
import { NODE_LAYER_LOG_FLAGS, nodeModules, nodeModulesOf } from "../../support/node_layer.ts";
import { startAgent } from "./fixtures.ts";

Deno.test("serving /proxy (workers, durable recorder) evaluates no Node-layer module", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const logs = `${dir.path}/logs`;
  await Deno.mkdir(logs);
  const recorder = `${dir.path}/records.jsonl`;
  // Deno itself rather than the launcher, whose own helper runs would write to the same log.
  const args = ["run", "--quiet", "--no-prompt", "--cached-only", "-A", `${ROOT}cmd/sidecar.ts`];
  const child = spawnChild(Deno.execPath(), [...args, "--port", "0", "--workers", "2"], {
    cwd: logs,
    env: {
      DENO_V8_FLAGS: NODE_LAYER_LOG_FLAGS,
      IATP_AGENT_URL: agent.url,
      IATP_DATA_DIR: dir.path,
      IATP_RECORDER_FILE: recorder,
    },
  });
  try {
    const ready = () => child.stdout().split("\n").filter((l) => l.includes('"sidecar ready"'));
    await waitFor(() => ready().length === 2, 30_000, "the sidecar's two isolates to be ready");
    const url: string | undefined = listeningUrl(child.stdout());
    assert.ok(url !== undefined, child.stdout());
    // Fresh connections, so both isolates (the main one and the worker) are likely to serve some.
    for (let i = 0; i < 8; i++) {
      const res: Response = await fetch(`${url}/proxy`, {
        method: "POST",
        headers: { "content-type": "application/json", connection: "close" },
        body: JSON.stringify({ task: "look up", n: i }),
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).ok, true);
    }
    // The recorder's batching timers fired: the records reached the file.
    await waitFor(
      async () => {
        const text = await Deno.readTextFile(recorder).catch(() => "");
        return text.split("\n").filter((l) => l.length > 0).length >= 8;
      },
      10_000,
      "the records to be written",
    );
    // Read while it serves (V8 writes each event out as it happens): its shutdown is not checked.
    const allowed = await nodeModulesOf(`${dir.path}/baseline`, "console.log(1)");
    const loaded = [...await nodeModules(logs)].filter((m) => !allowed.has(m));
    assert.deepEqual(loaded, [], "the sidecar loaded Deno's Node layer");
    const status = await child.stop("SIGTERM");
    assert.equal(status.code, 0, child.stderr());
  } finally {
    await child.stop("SIGKILL");
    await agent.close();
    await dir.remove();
  }
});
