// The audit service starts and idles with nothing of Deno's Node layer but its ledger's
// node:sqlite, on its first start (which creates its signing key file) and on the next (which
// reads it): a settings file is read with no Node timer, whose first use loads 1.5-3 MB of
// polyfills into an idle process.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";
import { NODE_LAYER_LOG_FLAGS, nodeModules, nodeModulesOf } from "../support/node_layer.ts";

Deno.test("an idle audit service evaluates no Node-layer module but node:sqlite, creating or reading its key file", async () => {
  const dir = await tempDir();
  try {
    const allowed = await nodeModulesOf(
      `${dir.path}/baseline`,
      'import { DatabaseSync } from "node:sqlite"; new DatabaseSync(":memory:").close();',
    );
    for (const start of ["first", "second"]) {
      const logs = `${dir.path}/logs-${start}`;
      await Deno.mkdir(logs);
      const args = ["run", "--quiet", "--no-prompt", "--cached-only", "-A", `${ROOT}cmd/audit.ts`];
      const child = spawnChild(Deno.execPath(), [...args, "--port", "0"], {
        cwd: logs,
        env: { DENO_V8_FLAGS: NODE_LAYER_LOG_FLAGS, IATP_DATA_DIR: `${dir.path}/data` },
      });
      try {
        let url: string | undefined;
        await waitFor(
          () => (url = listeningUrl(child.stdout())) !== undefined,
          30_000,
          "listening",
        );
        const res = await fetch(`${url}/health`);
        assert.equal(res.status, 200, await res.text());
        const loaded = [...await nodeModules(logs)].filter((m) => !allowed.has(m));
        assert.deepEqual(loaded, [], `the ${start} start loaded Deno's Node layer`);
        const status = await child.stop("SIGTERM");
        assert.equal(status.code, 0, child.stderr());
      } finally {
        await child.stop("SIGKILL");
      }
    }
    // The second start read the key the first one wrote.
    const keys = [...Deno.readDirSync(`${dir.path}/data`)].map((e) => e.name);
    assert.ok(keys.some((n) => /key/.test(n)), `a key file in ${keys.join(", ")}`);
  } finally {
    await dir.remove();
  }
});
