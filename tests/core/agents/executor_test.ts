import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { ExecutionLog } from "../../../core/agents/exec_log.ts";
import { type ExecutorContext, runInstruction } from "../../../core/agents/executor.ts";
import { PluginCatalog } from "../../../core/agents/plugins.ts";
import type { Instruction } from "../../../core/agents/wire.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";

const instruction = (id: string, input: Record<string, unknown>): Instruction => ({
  id,
  plugin_id: "slow-one",
  instruction_type: "execute",
  plugin_configuration: {},
  input_data: input,
  timeout_seconds: 0,
  max_retries: 0,
  correlation_id: undefined,
});

/** A catalog whose built-in folder holds `slow-one` (an action plugin that hangs if asked to). */
async function slowOne() {
  const dir = await tempDir();
  const builtin = join(dir.path, "builtin");
  await Deno.mkdir(join(builtin, "slow-one"), { recursive: true });
  await Deno.writeTextFile(
    join(builtin, "slow-one", "plugin.yaml"),
    stringify({
      id: "slow-one",
      name: "Slow one",
      version: "1.0.0",
      kind: "action",
      entry: "mod.ts",
      limits: { timeout_ms: 1_000, memory_mb: 64 },
    }),
  );
  await Deno.writeTextFile(
    join(builtin, "slow-one", "mod.ts"),
    "export function execute(_ctx: unknown, req: { hang?: boolean }) {\n" +
      "  return req.hang ? new Promise(() => {}) : 'done';\n}\n",
  );
  const catalog = new PluginCatalog({
    installedDir: join(dir.path, "installed"),
    builtinDir: builtin,
    sandbox: {
      maxMemoryBytes: 1 << 30,
      maxExecTimeMs: 60_000,
      allowedPaths: [],
      networkAccess: false,
    },
    poolSize: 1,
    maxRunners: 4,
    log: createLogger({ service: "t", level: "error", sink: () => {} }),
  });
  const ctx: ExecutorContext = {
    catalog,
    installedDir: join(dir.path, "installed"),
    workdir: join(dir.path, "work"),
    installMaxBytes: 1 << 20,
    taskTimeoutMs: 60_000,
    sandboxMaxExecMs: 60_000,
    pluginTrust: { trustedKeys: [], allowedSources: [] },
    signal: new AbortController().signal,
  };
  const close = async () => {
    await catalog.close();
    await dir.remove();
  };
  return { catalog, ctx, close };
}

Deno.test("catalog: instructions arriving together for a plugin not yet warm share one runner", async () => {
  const { catalog, close } = await slowOne();
  try {
    // Before, each made its own and the catalog kept the last: the others' hosts ran on, closed
    // by nothing (not even the agent's stop).
    const runners = await Promise.all(
      [1, 2, 3].map(() => catalog.runner("slow-one", "action", {})),
    );
    assert.equal(new Set(runners).size, 1);
  } finally {
    await close();
  }
});

Deno.test("executor: an instruction whose plugin times out fails alone; one waiting for the same plugin runs on a fresh host", async () => {
  const { catalog, ctx, close } = await slowOne();
  try {
    const hung = runInstruction(instruction("hangs", { hang: true }), ctx, new ExecutionLog(50));
    // The one host is busy with the hanging call; the next instruction waits for it.
    const runner = await catalog.runner("slow-one", "action", {});
    await waitFor(
      () => {
        const s = runner.stats();
        return s.hosts === 1 && s.idle === 0;
      },
      20_000,
      "the hanging call on the one host",
    );
    const waiting = runInstruction(instruction("waits", {}), ctx, new ExecutionLog(50));
    const [a, b] = await Promise.all([hung, waiting]);
    assert.equal(a.status, "failed");
    assert.equal(a.error_details?.error_type, "timeout");
    // Before, the timed-out call closed the runner the other was waiting on: "plugin runner is
    // closed", a failure of an instruction that had done nothing wrong.
    assert.equal(b.status, "completed", JSON.stringify(b));
    assert.equal(b.result?.output, "done");
  } finally {
    await close();
  }
});
