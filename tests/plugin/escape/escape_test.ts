/**
 * The escape suite: a fixture plugin tries every way out of the sandbox, one case per step, on
 * one shared runner. Each case must be denied or contained, and the very next call on the same
 * runner must succeed (the pool recycles the host and keeps serving).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadPlugin, PluginRunner } from "../../../core/plugin/mod.ts";
import type { PluginResult } from "../../../core/plugin/mod.ts";
import { ROOT, tempDir } from "../../helpers.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/evil", import.meta.url));
const SECRET = "tok-escape-suite-7f3a9c";

type Check = (r: PluginResult<unknown>) => void;

function failedWith(type: string, message?: RegExp): Check {
  return (r) => {
    assert.equal(r.ok, false, `expected ${type}, got ${JSON.stringify(r).slice(0, 300)}`);
    if (r.ok) return;
    assert.equal(r.error.type, type, r.error.message);
    if (message) assert.match(r.error.message, message);
  };
}

Deno.test("escape suite: every case is denied or contained, and the host keeps serving", async (t) => {
  const scratch = await tempDir("iatp-escape-scratch-");
  const outside = await tempDir("iatp-escape-outside-");
  // A server the plugin may reach, and one it may not: same host, different port.
  const forbidden = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("leak"),
  );
  const forbiddenUrl = `http://127.0.0.1:${forbidden.addr.port}/`;
  // The allowed server sends /redirect on to the forbidden one.
  const allowed = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/redirect"
        ? Response.redirect(forbiddenUrl, 302)
        : new Response("ok"),
  );
  const allowedUrl = `http://127.0.0.1:${allowed.addr.port}/`;
  const fport = forbidden.addr.port;
  const plugin = await loadPlugin(FIXTURE);
  const runner = new PluginRunner(plugin, {
    config: { allowed_url: allowedUrl, scratch: scratch.path, api_token: SECRET },
    env: { ALLOWED_VAR: "granted" },
  });
  const cases: Array<[string, Record<string, unknown>, Check, number?]> = [
    ["loops forever: killed at its timeout", { case: "loop" }, failedWith("timeout"), 1500],
    ["allocates heap without bound: oom", { case: "heap" }, failedWith("oom")],
    [
      "allocates ArrayBuffers without bound: oom (RSS watchdog)",
      { case: "buffers" },
      failedWith("oom"),
    ],
    [
      "reads /etc/passwd",
      { case: "read", path: "/etc/passwd" },
      failedWith("denied", /read access/),
    ],
    [
      "reads a file next to the host (the worker bootstrap the host itself may read)",
      { case: "read", path: `${ROOT}core/plugin/js/worker_entry.js` },
      failedWith("denied", /read access/),
    ],
    [
      "reads a file next to its own folder",
      { case: "read", path: `${FIXTURE}/../../escape_test.ts` },
      failedWith("denied", /read access/),
    ],
    [
      "writes outside its folder",
      { case: "write", path: `${outside.path}/escaped.txt` },
      failedWith("denied", /write access/),
    ],
    [
      "fetches an undeclared host:port",
      { case: "fetch", url: forbiddenUrl },
      failedWith("denied", /net access/),
    ],
    ...[
      `http://[::1]:${fport}/`,
      `http://[::ffff:127.0.0.1]:${fport}/`,
      `http://2130706433:${fport}/`,
      `http://0x7f.1:${fport}/`,
      `http://localhost:${allowed.addr.port}/`,
      `${allowedUrl}redirect`,
    ].map((url): [string, Record<string, unknown>, Check] => [
      `fetches another form of an undeclared host, or is redirected to one: ${url}`,
      { case: "fetch", url },
      failedWith("denied", /net access/),
    ]),
    [
      "makes a symlink to /etc/passwd in the folder it may write",
      { case: "symlink", path: `${scratch.path}/passwd` },
      failedWith("denied", /unscoped/),
    ],
    [
      "makes a hard link to /etc/passwd in the folder it may write",
      { case: "hardlink", path: `${scratch.path}/passwd` },
      failedWith("denied", /read access to "\/etc\/passwd"/),
    ],
    [
      "reads an undeclared env var",
      { case: "env", path: "HOME" },
      failedWith("denied", /env access/),
    ],
    ["runs a command it did not declare", { case: "run" }, failedWith("denied", /run access/)],
    [
      "bypasses through node:child_process (computed import)",
      { case: "node_child_process" },
      failedWith("denied"),
    ],
    [
      "bypasses through node:fs (computed import)",
      { case: "node_fs" },
      failedWith("denied", /read access/),
    ],
    [
      "import()s /etc/hostname with a computed specifier",
      { case: "computed_import", path: "/etc/hostname" },
      failedWith("denied", /read access/),
    ],
    [
      "import()s /etc/hostname from eval'd code",
      { case: "eval_import", path: "/etc/hostname" },
      failedWith("denied", /read access/),
    ],
    [
      "spawns a nested Worker asking for more permissions",
      { case: "nested_worker" },
      failedWith("denied", /escalate/),
    ],
    ["prints 100 MB through console", { case: "print_console" }, (r) => {
      failedWith("invalid_output", /printed/)(r);
      assert.equal(r.truncated, true);
      assert.ok(r.logs.join("\n").length <= 1024 * 1024 + 200, "logs are bounded");
    }],
    [
      "starts Workers that start Workers without end: oom (RSS watchdog)",
      { case: "worker_bomb" },
      failedWith("oom"),
    ],
    ["prints 100 MB to stderr", { case: "print_stderr" }, (r) => {
      failedWith("invalid_output", /printed/)(r);
      assert.equal(r.truncated, true);
    }],
    ["prints 100 MB straight to stdout", { case: "print_stdout" }, (r) => {
      failedWith("invalid_output", /printed/)(r);
      assert.equal(r.truncated, true);
      assert.ok(!r.ok && (r.output ?? "").length <= 4096, "kept output is a bounded sample");
    }],
    ["returns 2 MB (over max_output_bytes)", { case: "big_result" }, (r) => {
      failedWith("invalid_output", /max_output_bytes/)(r);
      assert.equal(r.truncated, true);
      assert.equal(!r.ok && new TextEncoder().encode(r.output).length, 1024 * 1024);
    }],
    ["returns non-JSON (a function)", { case: "non_json" }, failedWith("invalid_output")],
    ["returns non-JSON (a BigInt)", { case: "bigint" }, failedWith("invalid_output", /JSON/)],
    ["throws", { case: "throw" }, failedWith("error", /on purpose/)],
    [
      "returns __proto__ and constructor keys: plain data, nothing polluted",
      { case: "proto" },
      (r) => {
        assert.ok(r.ok, JSON.stringify(r));
        const v = r.value as Record<string, unknown>;
        assert.deepEqual(Object.keys(v), ["__proto__", "constructor"]);
        assert.equal(Object.getPrototypeOf(v), Object.prototype);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(({} as Record<string, unknown>).p, undefined);
      },
    ],
    ["returns a result nested 10,000 deep", { case: "deep" }, (r) => {
      assert.ok(r.ok, JSON.stringify(r).slice(0, 300));
      assert.equal(JSON.stringify(r.value).length, 20_001);
    }],
    ["logs its secret config three ways", { case: "log_secret" }, (r) => {
      failedWith("error")(r);
      const all = JSON.stringify(r);
      assert.ok(!all.includes(SECRET), `secret leaked: ${all}`);
      assert.ok(
        r.logs.length >= 2 && r.logs.every((l) => l.includes("[REDACTED]")),
        r.logs.join("\n"),
      );
    }],
  ];
  try {
    for (const [name, request, check, timeoutMs] of cases) {
      await t.step(name, async () => {
        check(await runner.execute(request, { timeoutMs }));
        const next = await runner.execute({ case: "ok" });
        assert.deepEqual(
          next.ok && next.value,
          { fine: true },
          `host stopped serving: ${JSON.stringify(next)}`,
        );
      });
    }
    await t.step(
      "granted rights still work (the line is where the manifest draws it)",
      async () => {
        const write = await runner.execute({ case: "write", path: `${scratch.path}/ok.txt` });
        assert.deepEqual(write.ok && write.value, "written");
        const env = await runner.execute({ case: "env", path: "ALLOWED_VAR" });
        assert.deepEqual(env.ok && env.value, "granted");
        const fetched = await runner.execute({ case: "fetch", url: allowedUrl });
        assert.deepEqual(fetched.ok && fetched.value, 200);
      },
    );
    await t.step("nothing escaped to disk", async () => {
      const left = [];
      for await (const e of Deno.readDir(outside.path)) left.push(e.name);
      assert.deepEqual(left, []);
    });
  } finally {
    await runner.close();
    await allowed.shutdown();
    await forbidden.shutdown();
    await scratch.remove();
    await outside.remove();
  }
});
