/**
 * PluginRunner behaviour with real plugin-host children: warm reuse, recycling after a failure or
 * N calls, pool concurrency and its bounded queue, init(), health(), trigger event checks.
 */
import assert from "node:assert/strict";
import { loadPlugin, PluginRunner } from "../../core/plugin/mod.ts";
import type { RunnerOptions } from "../../core/plugin/mod.ts";
import { makePlugin } from "./plugin_helpers.ts";

// Module state lives as long as its host: `calls` counts calls served by the current host.
const COUNTER = `
let calls = 0;
let initConfig: unknown;
export function init(config: unknown) { initConfig = config; }
export async function execute(_ctx: unknown, req: { wait?: number; fail?: boolean }) {
  calls++;
  if (req?.wait) await new Promise((r) => setTimeout(r, req.wait));
  if (req?.fail) throw new Error("asked to fail");
  return { calls, initConfig };
}
`;

async function withPlugin(
  files: Record<string, string>,
  manifest: Record<string, unknown>,
  opts: Partial<RunnerOptions>,
  fn: (r: PluginRunner) => Promise<void>,
): Promise<void> {
  const p = await makePlugin(files, manifest);
  const runner = new PluginRunner(await loadPlugin(p.dir), { config: {}, ...opts });
  try {
    await fn(runner);
  } finally {
    await runner.close();
    await p.remove();
  }
}

const callsOf = (r: { ok: boolean; value?: unknown }) =>
  r.ok ? (r.value as { calls: number }).calls : -1;

Deno.test("a warm host serves repeated calls; init() ran once with the validated config", async () => {
  const manifest = { config: { level: { type: "integer", default: 3 } } };
  await withPlugin({ "mod.ts": COUNTER }, manifest, {}, async (r) => {
    for (let i = 1; i <= 5; i++) {
      const res = await r.execute({});
      assert.ok(res.ok, JSON.stringify(res));
      assert.deepEqual(res.value, { calls: i, initConfig: { level: 3 } });
    }
    assert.deepEqual(r.stats(), { hosts: 1, idle: 1, waiting: 0 });
  });
});

Deno.test("a host is recycled after maxCallsPerHost calls and after any failure", async () => {
  await withPlugin({ "mod.ts": COUNTER }, {}, { maxCallsPerHost: 2 }, async (r) => {
    assert.deepEqual([callsOf(await r.execute({})), callsOf(await r.execute({}))], [1, 2]);
    assert.equal(callsOf(await r.execute({})), 1, "third call runs on a fresh host");
    const failed = await r.execute({ fail: true });
    assert.ok(
      !failed.ok && failed.error.type === "error" && failed.error.message === "asked to fail",
    );
    assert.equal(callsOf(await r.execute({})), 1, "after a failure the host is fresh");
  });
});

Deno.test("poolSize hosts run calls concurrently; extra callers wait in a bounded queue", async () => {
  await withPlugin({ "mod.ts": COUNTER }, {}, { poolSize: 2, maxQueue: 1 }, async (r) => {
    const warm = await Promise.all([r.execute({}), r.execute({})]);
    assert.ok(warm.every((x) => x.ok));
    const slow = [r.execute({ wait: 300 }), r.execute({ wait: 300 }), r.execute({ wait: 10 })];
    const overflow = await r.execute({});
    assert.ok(!overflow.ok && /queue full/.test(overflow.error.message), JSON.stringify(overflow));
    const done = await Promise.all(slow);
    assert.ok(done.every((x) => x.ok), JSON.stringify(done));
    assert.equal(r.stats().hosts, 2);
  });
});

Deno.test("a call of the wrong kind, an oversized input, and a closed runner fail as typed errors", async () => {
  await withPlugin({ "mod.ts": COUNTER }, {}, { maxInputBytes: 100 }, async (r) => {
    const d = await r.detect();
    assert.ok(!d.ok && d.error.type === "error" && /action plugin/.test(d.error.message));
    const big = await r.execute({ blob: "x".repeat(200) });
    assert.ok(!big.ok && /more than 100/.test(big.error.message));
    await r.close();
    const closed = await r.execute({});
    assert.ok(!closed.ok && /closed/.test(closed.error.message));
  });
});

Deno.test("health(): the plugin's own, or {status: ok} when it has none", async () => {
  await withPlugin({ "mod.ts": COUNTER }, {}, {}, async (r) => {
    const h = await r.health();
    assert.deepEqual(h.ok && h.value, { status: "ok" });
  });
  await withPlugin(
    { "mod.ts": `${COUNTER}\nexport const health = () => ({ status: "degraded", calls });` },
    {},
    {},
    async (r) => {
      const h = await r.health();
      assert.deepEqual(h.ok && h.value, { status: "degraded", calls: 0 });
    },
  );
});

Deno.test("init() that throws or hangs fails the call as error / timeout, and the runner recovers", async () => {
  const src = `
    const mode = (await Deno.permissions.query({ name: "env", variable: "MODE" })).state === "granted"
      ? Deno.env.get("MODE") : "";
    export function init() {
      if (mode === "throw") throw new Error("init broke");
      if (mode === "hang") for (;;) {}
    }
    export const execute = () => "ran";
  `;
  const manifest = { permissions: { env: ["MODE"] }, limits: { timeout_ms: 500, memory_mb: 64 } };
  await withPlugin({ "mod.ts": src }, manifest, { env: { MODE: "throw" } }, async (r) => {
    const res = await r.execute({});
    assert.ok(!res.ok && res.error.type === "error" && /init broke/.test(res.error.message));
  });
  await withPlugin(
    { "mod.ts": src },
    manifest,
    { env: { MODE: "hang" }, startTimeoutMs: 1000 },
    async (r) => {
      const res = await r.execute({});
      assert.ok(!res.ok && res.error.type === "timeout", JSON.stringify(res));
    },
  );
  await withPlugin({ "mod.ts": src }, manifest, { env: { MODE: "ok" } }, async (r) => {
    const res = await r.execute({});
    assert.deepEqual(res.ok && res.value, "ran");
  });
});

Deno.test("trigger events are checked and completed; an async iterator works; bad shapes are invalid_output", async () => {
  const src = `
    export async function* detect(ctx: { config: { mode: string } }) {
      if (ctx.config.mode === "bad") { yield { type: "x.y", severity: "urgent" }; return; }
      yield { type: "disk.high", severity: "high", data: { pct: 97 } };
      yield { id: "fixed", type: "disk.high", severity: "low", source: "me", tags: ["a"],
        timestamp: "2024-01-02T03:04:05.000Z", data: {} };
    }
  `;
  const manifest = { kind: "trigger", config: { mode: { type: "string", default: "good" } } };
  await withPlugin({ "mod.ts": src }, manifest, {}, async (r) => {
    const res = await r.detect();
    assert.ok(res.ok, JSON.stringify(res));
    const [a, b] = res.value;
    assert.equal(a.source, "test-plugin");
    assert.ok(a.id.length > 0 && !Number.isNaN(Date.parse(a.timestamp)));
    assert.deepEqual(a.tags, []);
    assert.deepEqual(b, {
      id: "fixed",
      type: "disk.high",
      severity: "low",
      source: "me",
      tags: ["a"],
      timestamp: "2024-01-02T03:04:05.000Z",
      data: {},
    });
  });
  await withPlugin({ "mod.ts": src }, manifest, { config: { mode: "bad" } }, async (r) => {
    const res = await r.detect();
    assert.ok(!res.ok && res.error.type === "invalid_output", JSON.stringify(res));
    assert.match(!res.ok ? res.error.message : "", /event\[0\]\.severity/);
  });
});

Deno.test("a host that dies mid-call (worker error outside the call) is reported crashed", async () => {
  const src = `export function execute() {
    setTimeout(() => { throw new Error("boom in a timer"); }, 0);
    return new Promise(() => {});
  }`;
  await withPlugin({ "mod.ts": src }, {}, {}, async (r) => {
    const res = await r.execute({});
    assert.ok(!res.ok && res.error.type === "crashed", JSON.stringify(res));
    assert.match(!res.ok ? res.error.message : "", /boom in a timer/);
  });
});

Deno.test("a plugin that calls Deno.exit() or close() fails at once, not at its timeout", async () => {
  // Before: the Worker ended without a word and the call waited out its whole timeout.
  // Without the refusal each call would end as a `timeout`, which the assertions below reject.
  const manifest = { limits: { timeout_ms: 10_000 } };
  for (const [name, call] of [["Deno.exit()", "Deno.exit(1)"], ["close()", "self.close()"]]) {
    const src = `export function execute() { ${call}; return { after: true }; }`;
    await withPlugin({ "mod.ts": src }, manifest, {}, async (r) => {
      const res = await r.execute({});
      assert.ok(!res.ok && res.error.type === "error", JSON.stringify(res));
      assert.match(
        !res.ok ? res.error.message : "",
        new RegExp(`plugin called ${name.replace(/[.()]/g, "\\$&")}`),
      );
      const again = await r.execute({});
      assert.ok(!again.ok, "the next call runs on a fresh host and fails the same way");
    });
  }
  const timer =
    `export function execute() { setTimeout(() => Deno.exit(0), 0); return new Promise(() => {}); }`;
  await withPlugin({ "mod.ts": timer }, manifest, {}, async (r) => {
    const res = await r.execute({});
    assert.ok(!res.ok && res.error.type === "crashed", JSON.stringify(res));
  });
});
