/**
 * The action agent started in-process: a plugin host that dies mid-call (here ended by a signal
 * after its plugin printed a stack line and its secret to stderr) is reported to the orchestrator
 * and on `action.results` by how it ended and an incident id; nothing it printed reaches the
 * result, its execution log or the relay event.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { command as relayCommand } from "../../cmd/relay.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../core/relay/mod.ts";
import { writePlugin } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { tempDir, waitFor } from "../helpers.ts";

const TOKEN = "action-host-crash-token-0001";
const SECRET = "sk-plugin-crash-0123456789";
const STACK_LINE = "    at leak (file:///opt/install/agent-internal.js:1:1)";

// Prints to the host's stderr directly (console.* is captured, Deno.stderr is not), then spins.
const PRINTS_THEN_SPINS = `
export function execute(ctx) {
  const out = ${JSON.stringify(STACK_LINE)} + "\\ntoken " + ctx.config.token + "\\n";
  Deno.stderr.writeSync(new TextEncoder().encode(out));
  for (;;) { /* only a kill ends it */ }
}
`;

/** The plugin-host children of this process. */
async function hostPids(): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (ppid === Deno.pid && cmd.includes("host_main")) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

/** CPU time a process has used, in clock ticks (user + system). */
async function cpuTicks(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

Deno.test("action: a crashed plugin host's result carries no output of the host or the plugin", async () => {
  const dir = await tempDir("iatp-action-host-crash-");
  const plugins = join(dir.path, "plugins");
  await writePlugin(plugins, "crash-action", "action", PRINTS_THEN_SPINS, {
    token: { type: "string", default: "", secret: true },
  }, { limits: { timeout_ms: 600_000, memory_mb: 64 } });
  const relay = await relayCommand.start(relayCommand.resolve({ port: 0, workers: 1 }), {
    log: silentLogger,
  });
  const client = new RelayClient({ url: relay.url, log: silentLogger });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["action.results"], (e) => void events.push(e), { since: "0" });
  const orch = await startFakeOrchestrator({ agentId: "host-crash", token: TOKEN });
  orch.enqueue({
    id: "crash",
    plugin_id: "crash-action",
    instruction_type: "execute",
    plugin_configuration: { token: SECRET },
    input_data: {},
    timeout_seconds: 600,
    max_retries: 0,
  });
  const agent = await command.start(
    command.resolve({
      agent: { id: "host-crash", base_folder: join(dir.path, "agent"), poll_interval: 200 },
      api: { base_url: orch.url },
      security: { auth: { api_key: TOKEN } },
      plugins: { directory: plugins },
      action: { task_source: "orchestrator" },
      relay: { url: relay.url },
      health: { port: 0 },
      logging: { level: "error" },
    }),
  );
  try {
    // A host that has used a second of CPU is spinning in execute(): it has printed.
    let pid = 0;
    await waitFor(
      async () => {
        const [p] = await hostPids();
        pid = p ?? 0;
        return pid > 0 && await cpuTicks(pid) >= 100;
      },
      60_000,
      "the plugin host spinning in its call",
    );
    Deno.kill(pid, "SIGABRT");
    await waitFor(
      () => orch.results().length === 1 && events.length === 1,
      30_000,
      "the result, on the orchestrator and the relay",
    );
    const [res] = orch.results("crash");
    assert.equal(res.body.status, "failed");
    assert.match(
      String(res.body.error_message),
      /^plugin host exited \(signal SIGABRT\); details in the local log, incident [0-9a-f]{8}$/,
    );
    assert.equal((res.body.error_details as Record<string, unknown>).error_type, "crashed");
    const out = { result: res.body, relay: events.map((e) => e.payload) };
    for (const [where, value] of Object.entries(out)) {
      const text = JSON.stringify(value);
      for (const leak of ["file://", "agent-internal", SECRET, dir.path]) {
        assert.ok(!text.includes(leak), `${where} carries ${leak}: ${text}`);
      }
    }
  } finally {
    await agent.close();
    sub.close();
    await client.close();
    await relay.close();
    await orch.close();
    await dir.remove();
  }
});
