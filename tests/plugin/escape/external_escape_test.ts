// Escape attempts from the external-runtime sandbox (bubblewrap): network, writes and reads
// outside the work folder (a link left for the agent to write through among them), a fork bomb,
// a busy loop past the timeout, a flood of output.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ExternalRunner, loadPlugin, sandboxUnavailable } from "../../../core/plugin/mod.ts";
import { tempDir } from "../../helpers.ts";

const PLUGIN = fileURLToPath(new URL("../external/fixtures/py-escape", import.meta.url));
const why = await sandboxUnavailable();
if (why) console.log(`external escape tests ignored: ${why}`);

Deno.test({
  name: "external sandbox: no network, no writes or reads outside, bounded forks, killed on time",
  ignore: why !== undefined,
  fn: async (t) => {
    const dir = await tempDir();
    const runner = new ExternalRunner(await loadPlugin(PLUGIN), {
      config: {},
      workRoot: `${dir.path}/work`,
      network: true, // the agent would allow it, but the plugin does not declare it
    });
    const attempt = async (input: Record<string, unknown>) => {
      const r = await runner.execute(input, { timeoutMs: 3000 });
      return r;
    };
    const result = async (input: Record<string, unknown>) => {
      const r = await attempt(input);
      assert.ok(r.ok, JSON.stringify(r));
      return r.value as { result?: unknown; error?: string };
    };
    try {
      await t.step("network: loopback of the host is unreachable", async () => {
        let accepted = 0;
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const serving = (async () => {
          for await (const c of listener) {
            accepted++;
            c.close();
          }
        })();
        const v = await result({ attack: "net", port: listener.addr.port });
        listener.close();
        await serving;
        assert.equal(v.result, undefined);
        assert.match(String(v.error), /refused|unreachable/i);
        assert.equal(accepted, 0);
      });
      await t.step("write outside the work folder fails", async () => {
        const path = `${dir.path}/escaped.txt`;
        const v = await result({ attack: "write", path });
        assert.match(String(v.error), /Error/);
        assert.equal(existsSync(path), false);
        const sys = await result({ attack: "write", path: "/usr/escaped.txt" });
        assert.match(String(sys.error), /Read-only file system|Permission|No such/i);
      });
      await t.step("a secret file of the host is not there to read", async () => {
        const path = `${dir.path}/secret.txt`;
        await Deno.writeTextFile(path, "host-secret-42", { mode: 0o600 });
        const v = await result({ attack: "read", path });
        assert.match(String(v.error), /FileNotFoundError/);
        assert.ok(!JSON.stringify(v).includes("host-secret-42"));
      });
      await t.step(
        "a link left in the work folder does not lead the agent's writes out",
        async () => {
          const path = `${dir.path}/agent-file.txt`;
          await Deno.writeTextFile(path, "the agent's own");
          // The input is bound read-only into the sandbox: the plugin cannot even replace it.
          assert.match(
            String((await result({ attack: "plant", path })).error),
            /not permitted|busy/i,
          );
          const next = await result({ attack: "read", path: "/work/input.json" });
          assert.match(String(next.result), /^read:\{"input_data":\{"attack":"read"/);
          assert.equal(await Deno.readTextFile(path), "the agent's own");
        },
      );
      await t.step(
        "what it writes of its own is bounded: /work and /tmp fill up, not the disk",
        async () => {
          for (const dir of ["/work", "/tmp"]) {
            const v = await result({ attack: "fill", dir });
            assert.match(String(v.error), /No space left/, dir);
            assert.ok(Number(/^(\d+) files/.exec(String(v.result))?.[1]) < 10, String(v.result));
          }
        },
      );
      await t.step("environment and working folder are the sandbox's own", async () => {
        const v = await result({ attack: "whoami" });
        const who = v.result as { cwd: string; env: string[] };
        assert.equal(who.cwd, "/work");
        assert.ok(
          who.env.every((k) => /^(PATH|HOME|PWD|LC_CTYPE|PYTHON\w+|STAVILY_\w+)$/.test(k)),
          who.env.join(),
        );
      });
      await t.step("a fork bomb stops at the process limit", async () => {
        const v = await result({ attack: "forkbomb" });
        assert.match(String(v.error), /Resource temporarily unavailable/);
        const forked = Number(/forked (\d+)/.exec(String(v.result))?.[1]);
        assert.ok(forked < 100_000, `forks were bounded (${forked})`);
      });
      await t.step("a busy loop is killed at the timeout", async () => {
        const r = await attempt({ attack: "spin" });
        assert.ok(!r.ok && r.error.type === "timeout", JSON.stringify(r));
      });
      await t.step("output beyond the cap is refused", async () => {
        const r = await attempt({ attack: "bigout" });
        assert.ok(!r.ok && r.error.type === "invalid_output", JSON.stringify(r).slice(0, 300));
      });
    } finally {
      await runner.close();
      await dir.remove();
    }
  },
});
