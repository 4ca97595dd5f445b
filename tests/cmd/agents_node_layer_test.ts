// The sensor and action agents start and idle (the action agent subscribed to its relay tasks)
// without Deno's Node layer: a first run opens its state database (node:sqlite) with the first
// write that needs it, so nothing of the layer is evaluated but what every program evaluates.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, spawnChild, startIatpService, tempDir, waitFor } from "../helpers.ts";
import {
  NODE_LAYER_LOG_FLAGS,
  nodeModules,
  nodeModulesOf,
  scriptsIn,
} from "../support/node_layer.ts";

/** What every program evaluates of the Node layer. */
const EMPTY_PROGRAM = "console.log(1);";

for (const kind of ["sensor", "action"] as const) {
  Deno.test(`an idle ${kind} agent evaluates no Node-layer module, node:sqlite's neither`, async () => {
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
      const allowed = await nodeModulesOf(`${dir.path}/baseline`, EMPTY_PROGRAM);
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

Deno.test("an idle compose-agent evaluates no Node-layer module (its replay store opens with the signed API), nor fetch (its Docker probe runs on the product's client)", async () => {
  const dir = await tempDir();
  const logs = `${dir.path}/logs`;
  await Deno.mkdir(logs);
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    "--cached-only",
    "-A",
    `${ROOT}cmd/compose_agent.ts`,
  ];
  const child = spawnChild(Deno.execPath(), [...args, "--port", "0"], {
    cwd: logs,
    env: {
      DENO_V8_FLAGS: NODE_LAYER_LOG_FLAGS,
      IATP_DATA_DIR: dir.path,
      IATP_COMPOSE_AGENT_AGENT_TOKEN: "k".repeat(64),
    },
  });
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(child.stdout())) !== undefined, 30_000, "listening");
    await waitFor(
      async () => (await fetch(`${url}/health`).then((r) => r.body?.cancel())) === undefined,
      30_000,
      "the compose-agent to answer /health",
    );
    const allowed = await nodeModulesOf(`${dir.path}/baseline`, EMPTY_PROGRAM);
    const loaded = [...await nodeModules(logs)].filter((m) => !allowed.has(m));
    assert.deepEqual(loaded, [], "the idle compose-agent loaded Deno's Node layer");
    // The probe ran at start (the socket is missing here: it failed, as `fetch` had too).
    const fetchCode = await scriptsIn(
      logs,
      /^script-details,\d+,(ext:deno_fetch\/26_fetch\.js),/gm,
    );
    assert.deepEqual([...fetchCode], [], "the idle compose-agent evaluated fetch");
    const status = await child.stop("SIGTERM");
    assert.equal(status.code, 0, child.stderr());
  } finally {
    await child.stop("SIGKILL");
    await dir.remove();
  }
});
