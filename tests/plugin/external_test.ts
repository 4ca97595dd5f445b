// External-runtime (Python) plugins under bubblewrap: the Stavily manifest dialects and the three
// protocols (stdin line JSON, argv + input.json, argv + the agent's JSON-RPC socket).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  ExternalRunner,
  handleRpc,
  loadPlugin,
  sandboxUnavailable,
} from "../../core/plugin/mod.ts";
import { tempDir, waitFor } from "../helpers.ts";

const FIX = fileURLToPath(new URL("./external/fixtures/", import.meta.url));
const why = await sandboxUnavailable();
const ignore = why !== undefined;
if (why) console.log(`external plugin tests ignored: ${why}`);

async function runner(
  id: string,
  config: Record<string, unknown> = {},
  onLogs?: (
    iid: string | undefined,
    lines: string[],
  ) => void,
) {
  const dir = await tempDir();
  const r = new ExternalRunner(await loadPlugin(FIX + id), {
    config,
    workRoot: dir.path,
    network: false,
    agent: { id: "agent-7", version: "9.9.9", environment: "dev" },
    onLogs,
  });
  return {
    r,
    close: async () => {
      await r.close();
      await dir.remove();
    },
  };
}

Deno.test("Stavily manifests map onto iatp's: nested 06-Plugins and flat Machine-Data-Extractor", async () => {
  const nested = (await loadPlugin(FIX + "py-lines-trigger")).manifest;
  assert.deepEqual(
    [nested.kind, nested.entry, nested.runtime?.type, nested.runtime?.protocol],
    ["trigger", "trigger.py", "python", "lines"],
  );
  assert.deepEqual([nested.limits.timeout_ms, nested.limits.memory_mb], [20_000, 128]);
  assert.deepEqual(nested.permissions.read, ["/proc/meminfo"]);
  assert.equal(nested.config.threshold.default, 90);
  const flat = (await loadPlugin(FIX + "py-rpc-monitor")).manifest;
  assert.deepEqual([flat.kind, flat.runtime?.protocol, flat.limits.timeout_ms], [
    "trigger",
    "rpc",
    3_600_000,
  ]);
  assert.equal((await loadPlugin(FIX + "py-lines-action")).manifest.config.api_token.secret, true);
});

Deno.test({
  name: "lines protocol: a trigger's detect_triggers, started with initialize and start",
  ignore,
  fn: async () => {
    const low = await runner("py-lines-trigger", { threshold: 0 });
    const high = await runner("py-lines-trigger", { threshold: 100 });
    try {
      const r = await low.r.detect();
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.value.length, 1);
      assert.equal(r.value[0].type, "memory.high");
      assert.equal(r.value[0].severity, "medium");
      assert.deepEqual(r.value[0].metadata, { plugin_id: "py-lines-trigger" });
      const none = await high.r.detect();
      assert.ok(none.ok && none.value.length === 0);
      assert.equal(low.r.hostPids().length, 1, "one long-lived process");
    } finally {
      await low.close();
      await high.close();
    }
  },
});

Deno.test({
  name: "lines protocol: execute_action, secrets masked, timeout kills and the next call restarts",
  ignore,
  fn: async () => {
    const a = await runner("py-lines-action", { api_token: "sekret-value-123" });
    try {
      const r = await a.r.execute({ n: 1 }, { instructionId: "inst-1" });
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.value, {
        id: "inst-1",
        status: "completed",
        data: { greeting: "hello", echo: { n: 1 } },
      });
      const slow = await a.r.execute({ sleep: 5 }, { timeoutMs: 300 });
      assert.ok(!slow.ok && slow.error.type === "timeout");
      assert.ok(!JSON.stringify(slow).includes("sekret-value-123"), "secret masked");
      const again = await a.r.execute({ n: 2 });
      assert.ok(again.ok, "a fresh process after the kill");
      const crash = await a.r.execute({ crash: true });
      assert.ok(!crash.ok && crash.error.type === "crashed", JSON.stringify(crash));
    } finally {
      await a.close();
    }
  },
});

Deno.test({
  name: "argv protocol: --input input.json, JSON or raw output, exit status",
  ignore,
  fn: async () => {
    const a = await runner("py-argv-action");
    const text = await runner("py-argv-action", { arguments: ["--mode", "text"] });
    const fail = await runner("py-argv-action", { arguments: ["--mode", "fail"] });
    try {
      const r = await a.r.execute({ x: 1 }, { instructionId: "inst-9" });
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.value, {
        input: { x: 1 },
        has_context: true,
        instruction: "inst-9",
        cwd: "/work",
      });
      const t = await text.r.execute({});
      assert.ok(t.ok && (t.value as { raw_output: string }).raw_output.includes("plain text"));
      const f = await fail.r.execute({});
      assert.ok(!f.ok);
      assert.equal(f.error.message, "plugin execution failed: exit status 4");
      assert.match(String(f.output), /something broke/);
    } finally {
      await a.close();
      await text.close();
      await fail.close();
    }
  },
});

Deno.test({
  name: "rpc protocol: ping, get_agent_info, get_config, upload_logs and report_trigger",
  ignore,
  fn: async () => {
    const logs: string[] = [];
    const once = await runner("py-rpc-monitor", { monitor_interval: 0 });
    const loop = await runner(
      "py-rpc-monitor",
      { monitor_interval: 1 },
      (_id, l) => logs.push(...l),
    );
    try {
      const r = await once.r.execute({});
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual((r.value as { data: unknown }).data, {
        agent: { agent_id: "agent-7", version: "9.9.9", environment: "dev" },
        config: { trigger_name: "cpu_high" },
      });
      let events: Array<{ type: string; data: Record<string, unknown> }> = [];
      await waitFor(
        async () => {
          const d = await loop.r.detect();
          assert.ok(d.ok, JSON.stringify(d));
          events = events.concat(d.value);
          return events.length > 0;
        },
        20_000,
        "a report_trigger",
      );
      assert.equal(events[0].type, "cpu_high");
      assert.equal(events[0].data.agent, "agent-7");
      assert.equal(events[0].data.unknown, "Method not found");
      assert.ok(logs.some((l) => l === "info: sampling"));
    } finally {
      await once.close();
      await loop.close();
    }
  },
});

Deno.test("JSON-RPC answers: parse error, invalid request, unknown method", () => {
  const h = {
    agentInfo: () => ({ agent_id: "a", version: "1", environment: "dev" }),
    config: () => ({}),
    reportTrigger: () => ({ event_id: "e" }),
    uploadLogs: () => 0,
  };
  assert.equal((handleRpc("{nope", h).error as { code: number }).code, -32700);
  assert.equal((handleRpc('{"method":"ping"}', h).error as { code: number }).code, -32600);
  assert.equal(
    (handleRpc('{"jsonrpc":"2.0","method":"x","id":3}', h).error as { code: number }).code,
    -32601,
  );
  assert.deepEqual(handleRpc('{"jsonrpc":"2.0","method":"ping","id":1}', h).result, {
    pong: true,
  });
});

Deno.test("without bubblewrap, external plugins are refused, never run unsandboxed", async () => {
  const why = await sandboxUnavailable("bwrap-not-installed-here");
  assert.match(why!, /not installed: external-runtime plugins never run unsandboxed/);
});

// A systemd unit's ProtectKernelTunables= (or a container runtime's masked paths) leaves /proc
// with read-only parts, and the kernel then refuses an unprivileged sandbox its own /proc while it
// still allows the namespaces. Made here with a mount namespace whose /proc/sys is read-only and
// the probe run as an unprivileged user.
const asUnprivilegedWithMaskedProc = (module: string, denoDir: string) =>
  new Deno.Command("unshare", {
    args: [
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"',
      "sh",
      "env",
      `HOME=${denoDir}`,
      `DENO_DIR=${denoDir}`,
      Deno.execPath(),
      "run",
      "--quiet",
      "-A",
      module,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();

Deno.test({
  name:
    "the sandbox probe makes the plugin sandbox's /proc: where it cannot, plugins are refused naming why",
  ignore: ignore || Deno.uid() !== 0,
  async fn() {
    const dir = await tempDir();
    try {
      await Deno.chmod(dir.path, 0o777);
      const probe = `${dir.path}/probe.ts`;
      const sandbox = new URL("../../core/plugin/external/sandbox.ts", import.meta.url).href;
      await Deno.writeTextFile(
        probe,
        `import { probeSandbox } from ${JSON.stringify(sandbox)};\n` +
          "console.log(JSON.stringify(await probeSandbox()));\n",
      );
      await Deno.chmod(probe, 0o644);
      const readable = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "test",
          "-r",
          new URL(sandbox).pathname,
        ],
      }).output();
      if (!readable.success) {
        console.log("ignored: the checkout is not readable by an unprivileged user");
        return;
      }
      const out = await asUnprivilegedWithMaskedProc(probe, dir.path);
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const found = JSON.parse(text);
      assert.equal(found.ok, false, text);
      assert.match(found.reason, /^bubblewrap cannot create a sandbox: .*proc/, text);
    } finally {
      await dir.remove();
    }
  },
});

Deno.test({
  name: "a declared read outside the system folders can be read from inside the sandbox",
  ignore,
  fn: async () => {
    // Outside /tmp, which the sandbox replaces with its own: the folders leading to the file are
    // made by bwrap, and the plugin (the sandbox user) must be able to pass through them.
    const data = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "iatp-ext-read-" });
    const dir = await tempDir();
    try {
      await Deno.chmod(data, 0o755);
      await Deno.writeTextFile(`${data}/data.txt`, "declared-content");
      await Deno.chmod(`${data}/data.txt`, 0o644);
      const plugin = `${dir.path}/plugin`;
      await Deno.mkdir(plugin);
      await Deno.writeTextFile(
        `${plugin}/plugin.yaml`,
        [
          "plugin:",
          "  id: py-declared-read",
          "  name: Declared read",
          "  version: 0.1.0",
          "  type: action",
          "  runtime: { type: python, entry_point: main.py, protocol: argv }",
          `  permissions: { filesystem: { read: ["${data}/data.txt"] } }`,
          "",
        ].join("\n"),
      );
      await Deno.writeTextFile(
        `${plugin}/main.py`,
        [
          "import json",
          "try:",
          `    print(json.dumps({"text": open("${data}/data.txt").read()}))`,
          "except OSError as e:",
          '    print(json.dumps({"error": type(e).__name__}))',
          "",
        ].join("\n"),
      );
      const r = new ExternalRunner(await loadPlugin(plugin), {
        config: {},
        workRoot: `${dir.path}/work`,
        network: false,
        agent: { id: "agent-7", version: "9.9.9", environment: "dev" },
      });
      try {
        const res = await r.execute({});
        assert.ok(res.ok, JSON.stringify(res));
        assert.deepEqual(res.value, { text: "declared-content" });
      } finally {
        await r.close();
      }
    } finally {
      await dir.remove();
      await Deno.remove(data, { recursive: true });
    }
  },
});
