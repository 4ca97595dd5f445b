/**
 * What a crashed plugin host leaves in its result, which an agent sends to its orchestrator: how
 * the host ended and an incident id, never what it printed (a stack trace naming this install's
 * files, a plugin's stderr); that goes to the local log, scrubbed, under the same id. Real
 * plugin-host children.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../core/log/mod.ts";
import { loadPlugin, PluginRunner } from "../../core/plugin/mod.ts";
import { makePlugin } from "./plugin_helpers.ts";

const SECRET = "tok-host-crash-0123456789";

// init() prints its secret to the host's stderr directly (console.* is captured, Deno.stderr is not).
const PRINTS_SECRET = `
export function init(config: { api_token: string }) {
  Deno.stderr.writeSync(new TextEncoder().encode("plugin token " + config.api_token + "\\n"));
}
export function execute() { return { ok: true }; }
`;

/** An array nesting `levels` deep: the host's structured clone to its Worker overflows its stack. */
function nested(levels: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < levels; i++) v = [v];
  return v;
}

Deno.test("a host that dies of its own error: the result names the exit and an incident; the stack stays in the local log, scrubbed", async () => {
  const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const log = createLogger({
    service: "test",
    level: "debug",
    sink: (l) => void lines.push(JSON.parse(l)),
  });
  const p = await makePlugin({ "mod.ts": PRINTS_SECRET }, {
    config: { api_token: { type: "string", secret: true } },
  });
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: { api_token: SECRET }, log });
  try {
    // The agents refuse input this deep at the wire; a runner used on its own hands it on.
    const res = await runner.execute({ x: nested(5_000) });
    assert.ok(!res.ok && res.error.type === "crashed", JSON.stringify(res).slice(0, 2000));
    const m = /^plugin host exited \(code 1\); details in the local log, incident ([0-9a-f]{8})$/
      .exec(res.error.message);
    assert.ok(m, res.error.message);
    const text = JSON.stringify(res);
    for (const leak of ["file://", "host_main", "BoundedLineReader", SECRET, p.root]) {
      assert.ok(!text.includes(leak), `result carries ${leak}: ${text}`);
    }
    const entry = lines.find((l) => l.msg === "plugin host exited");
    assert.ok(entry, JSON.stringify(lines));
    assert.equal(entry.fields?.incident, m[1]);
    assert.equal(entry.fields?.code, 1);
    const output = String(entry.fields?.output);
    assert.match(output, /BoundedLineReader\.push \(file:\/\/.*host_main\.js/, output);
    assert.match(output, /plugin token \[REDACTED\]/, output);
    assert.ok(!JSON.stringify(lines).includes(SECRET), "the local log is scrubbed");
    // The next call runs on a fresh host.
    assert.ok((await runner.execute({})).ok);
  } finally {
    await runner.close();
    await p.remove();
  }
});

Deno.test("a host killed by a signal from outside: the result names the signal, not the host's last words", async () => {
  const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const log = createLogger({ service: "test", sink: (l) => void lines.push(JSON.parse(l)) });
  const src = `
export function init() {
  Deno.stderr.writeSync(new TextEncoder().encode("    at leak (file:///opt/install/secret-path.js:1:1)\\n"));
}
export function execute() { return new Promise(() => {}); }`;
  const p = await makePlugin({ "mod.ts": src }, { limits: { timeout_ms: 60_000, memory_mb: 64 } });
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {}, log });
  try {
    // init() printed before the host said it was ready.
    assert.ok((await runner.warm()).ok);
    const [pid] = runner.hostPids();
    const call = runner.execute({});
    while (runner.stats().idle > 0) await new Promise((r) => setTimeout(r, 10));
    Deno.kill(pid, "SIGABRT");
    const res = await call;
    assert.ok(!res.ok && res.error.type === "crashed", JSON.stringify(res));
    assert.match(
      res.error.message,
      /^plugin host exited \(signal SIGABRT\); details in the local log, incident [0-9a-f]{8}$/,
    );
    assert.ok(!JSON.stringify(res).includes("secret-path"), JSON.stringify(res));
    const entry = lines.find((l) => l.msg === "plugin host exited");
    assert.equal(entry?.fields?.signal, "SIGABRT");
    assert.match(String(entry?.fields?.output), /secret-path\.js/);
  } finally {
    await runner.close();
    await p.remove();
  }
});

Deno.test("a plugin's own error reaches the result, without this install's paths or the runtime's stack frames", async () => {
  const src = `
export async function execute(ctx: { config: { api_token: string } }, req: { case: string }) {
  if (req.case === "read") await Deno.readTextFile(new URL("./nope.txt", import.meta.url));
  const err = new Error("upstream refused token " + ctx.config.api_token);
  console.error(err);
  throw new Error(err.stack);
}`;
  const p = await makePlugin({ "mod.ts": src }, {
    permissions: { read: ["."] },
    config: { api_token: { type: "string", secret: true } },
  });
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: { api_token: SECRET } });
  try {
    const read = await runner.execute({ case: "read" });
    assert.ok(!read.ok, JSON.stringify(read));
    assert.equal(
      read.error.message,
      "No such file or directory (os error 2): readfile '<plugin>/nope.txt'",
    );
    const thrown = await runner.execute({ case: "stack" });
    assert.ok(!thrown.ok && thrown.error.type === "error", JSON.stringify(thrown));
    // The author's message is kept, the secret masked, and the frame of the plugin's own code.
    assert.match(thrown.error.message, /^Error: upstream refused token \[REDACTED\]\n/);
    assert.match(thrown.error.message, /at execute \(<plugin>\/mod\.ts:\d+:\d+\)/);
    assert.match(thrown.logs.join("\n"), /at execute \(<plugin>\/mod\.ts:\d+:\d+\)/);
    const text = JSON.stringify([read, thrown]);
    for (const leak of ["file://", "worker_entry", "ext:", SECRET, p.root]) {
      assert.ok(!text.includes(leak), `result carries ${leak}: ${text}`);
    }
  } finally {
    await runner.close();
    await p.remove();
  }
});
