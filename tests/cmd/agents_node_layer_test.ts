// The sensor and action agents start and idle (the action agent subscribed to its relay tasks)
// without Deno's Node layer: nothing of it but what node:sqlite, their state database, needs.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, startIatpService, tempDir, waitFor } from "../helpers.ts";
import { NODE_LAYER_LOG_FLAGS, nodeModules, nodeModulesOf } from "../support/node_layer.ts";

/** What opening a SQLite database names of the Node layer (and what every program does). */
const SQLITE_ONLY = 'import { DatabaseSync } from "node:sqlite";\n' +
  'new DatabaseSync(":memory:").exec("CREATE TABLE t(a)");';

for (const kind of ["sensor", "action"] as const) {
  Deno.test(`an idle ${kind} agent evaluates no Node-layer module but node:sqlite's`, async () => {
    const dir = await tempDir();
    const relay = await startIatpService(["relay", "--port", "0"], {
      env: { IATP_DATA_DIR: `${dir.path}/relay` },
    });
    const logs = `${dir.path}/logs`;
    await Deno.mkdir(logs);
    // Deno itself rather than the launcher, whose own helper runs would write to the same log.
    const args = ["run", "--quiet", "--no-prompt", "--cached-only", "-A", `${ROOT}cmd/${kind}.ts`];
    const child = spawnChild(Deno.execPath(), [
      ...args,
      ...["--health-port", "0", "--agent-id", `${kind}-1`, "--relay-url", relay.url],
    ], { cwd: logs, env: { DENO_V8_FLAGS: NODE_LAYER_LOG_FLAGS, IATP_DATA_DIR: dir.path } });
    try {
      let url: string | undefined;
      await waitFor(() => (url = listeningUrl(child.stdout())) !== undefined, 30_000, "listening");
      // Every component is up: the action agent's relay subscription is connected.
      await waitFor(
        async () => {
          const res = await fetch(`${url}/health`);
          const body = await res.json();
          return res.status === 200 && body.status === "ok";
        },
        30_000,
        `the ${kind} agent to be healthy`,
      );
      const allowed = await nodeModulesOf(`${dir.path}/baseline`, SQLITE_ONLY);
      const loaded = [...await nodeModules(logs)].filter((m) => !allowed.has(m));
      assert.deepEqual(loaded, [], `the ${kind} agent loaded Deno's Node layer`);
      const status = await child.stop("SIGTERM");
      assert.equal(status.code, 0, child.stderr());
    } finally {
      await child.stop("SIGKILL");
      await relay.stop();
      await dir.remove();
    }
  });
}
