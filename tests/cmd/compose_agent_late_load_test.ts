// The compose-agent loads its command API (the signature guard with core/auth, the command
// parsers and the executor) with the first request its router serves. When a part of it cannot
// be loaded (a module unreadable, as after an install replaced under a running agent), every
// request gets a clear JSON 503, never a command run unchecked, and /health names the API.
import assert from "node:assert/strict";
import { signRequest } from "../../core/auth/mod.ts";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";

const KEY = "compose-agent-late-key-0123456789";

Deno.test("compose-agent: a command executor that cannot be loaded answers a JSON 503, and /health names the command API", async () => {
  const dir = await tempDir();
  const agent = spawnChild(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--cached-only", "-A"],
    `--deny-read=${ROOT}core/docker/executor/mod.ts`,
    `${ROOT}cmd/compose_agent.ts`,
    ...["--port", "0", "--agent-token", KEY, "--docker-socket", `${dir.path}/no-docker.sock`],
  ], { env: { IATP_DATA_DIR: dir.path } });
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(agent.stdout())) !== undefined, 30_000, "listening")
      .catch((err) => {
        throw new Error(agent.stdout() + agent.stderr(), { cause: err });
      });
    const body = JSON.stringify({ command_id: "late-exec-1", type: "list_containers" });
    for (let i = 0; i < 2; i++) {
      const path = "/api/v1/commands/execute";
      const headers = await signRequest(KEY, {
        agentId: "status-panel",
        method: "POST",
        url: path,
        body,
      });
      const r = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body,
      });
      const json = await r.json();
      assert.equal(r.status, 503, JSON.stringify(json));
      assert.equal(json.error, "the command API could not be loaded");
      assert.ok(json.request_id, "the JSON envelope");
    }
    const unsigned = await fetch(`${url}/api/v1/commands/wait/x`);
    assert.equal(unsigned.status, 503);
    await unsigned.body?.cancel();
    const health = await (await fetch(`${url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.equal(health.command_api, "unavailable");
  } finally {
    await agent.stop("SIGTERM");
    await dir.remove();
  }
});
