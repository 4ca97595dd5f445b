// plugins.directory is one more place the agents look plugins up: one that names no folder is
// warned about at start (the agent still runs on its installed and built-in plugins).
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeConfig } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { listeningUrl, ROOT, spawnChild, tempDir, waitFor } from "../helpers.ts";

const TOKEN = "action-plugins-dir-token-0123456789";
const WARNING = "plugins.directory is not searched";

Deno.test("action: a plugins.directory that names no folder is warned about at start, once", async () => {
  const dir = await tempDir("iatp-action-pdir-");
  const orch = await startFakeOrchestrator({ agentId: "pdir-act", token: TOKEN });
  try {
    await Deno.writeTextFile(join(dir.path, "a file"), "");
    const cases = [
      { directory: join(dir.path, "no such dir"), why: "no such folder" },
      { directory: join(dir.path, "a file"), why: "not a folder" },
      { directory: dir.path, why: undefined },
    ];
    for (const [i, c] of cases.entries()) {
      const config = await writeConfig(dir.path, `action-${i}.yaml`, {
        agent: { id: "pdir-act", base_folder: join(dir.path, `agent-${i}`) },
        api: { base_url: orch.url },
        security: { auth: { api_key: TOKEN } },
        plugins: { directory: c.directory },
        health: { port: 0 },
      });
      const agent = spawnChild(Deno.execPath(), [
        ...["run", "--quiet", "--no-prompt", "-A", `${ROOT}cmd/action.ts`],
        ...["--config", config],
      ], { env: { IATP_DATA_DIR: dir.path } });
      try {
        await waitFor(() => listeningUrl(agent.stdout()) !== undefined, 30_000, "listening");
        const out = agent.stdout() + agent.stderr();
        const lines = out.split("\n").filter((l) => l.includes(WARNING));
        if (c.why === undefined) {
          assert.deepEqual(lines, [], out);
        } else {
          assert.equal(lines.length, 1, out);
          assert.match(lines[0], new RegExp(`\\(${c.why}\\)`));
        }
        assert.equal((await agent.stop("SIGTERM")).code, 0, agent.stderr());
      } finally {
        await agent.stop("SIGKILL");
      }
    }
  } finally {
    await orch.close();
    await dir.remove();
  }
});
