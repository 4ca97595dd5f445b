import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { createLogger } from "../../core/log/mod.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { canMountTmpfs, mountCmd } from "../support/tmpfs.ts";

Deno.test({
  name:
    "action: a piggy-backed instruction the state store cannot record (full disk) is logged, and the agent runs on",
  ignore: !canMountTmpfs(),
  async fn() {
    const dir = await tempDir();
    const state = join(dir.path, "base", "data", "state");
    await Deno.mkdir(state, { recursive: true });
    assert.ok(mountCmd("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", state]));
    const filler = join(state, "filler");
    let polls = 0;
    let results = 0;
    // An orchestrator that hands out one instruction, and a next one with its result's answer
    // (sent once the disk is full).
    const orch = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const path = new URL(req.url).pathname;
      await req.body?.cancel();
      if (path.endsWith("/instructions")) {
        polls++;
        return Response.json(
          polls === 1
            ? { instruction: { id: "first", instruction_type: "execute", plugin_id: "nope" } }
            : { next_poll_interval: 1 },
        );
      }
      if (path.endsWith("/result")) {
        results++;
        await Deno.writeFile(filler, new Uint8Array(4 << 20)).catch(() => {});
        return Response.json({
          acknowledged: true,
          next_instruction: { id: "second", instruction_type: "execute", plugin_id: "nope" },
        });
      }
      return Response.json({});
    });
    const lines: string[] = [];
    const log = createLogger({ service: "action", level: "info", sink: (l) => lines.push(l) });
    const config = command.resolve({
      agent: { id: "piggy", base_folder: join(dir.path, "base"), poll_interval: 200 },
      api: { base_url: `http://127.0.0.1:${orch.addr.port}` },
      security: { auth: { api_key: "piggy-token-001" } },
      health: { port: 0 },
    });
    const svc = await command.start(config, { log });
    try {
      await waitFor(
        () => lines.some((l) => l.includes("piggy-backed instruction not recorded")),
        20_000,
        "the piggy-backed instruction's failure logged",
      );
      const line = JSON.parse(lines.find((l) => l.includes("piggy-backed instruction"))!);
      assert.equal(line.fields.instruction_id, "second");
      assert.match(line.fields.error, /full/);
      // Still serving, and still polling.
      const seen = polls;
      await waitFor(() => polls > seen, 20_000, "another poll");
      assert.equal((await fetch(`${svc.url}/health`).then((r) => r.json())).agent_id, "piggy");
      assert.ok(results >= 1);
    } finally {
      await svc.close();
      await orch.shutdown();
      await Deno.remove(filler).catch(() => {});
      mountCmd("umount", [state]);
      await dir.remove();
    }
  },
});
