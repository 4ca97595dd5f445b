/**
 * The sidecar's request path and router load from the checkout with their first request: code
 * read after the program's sources changed is not run under the start's attestation.
 */
import assert from "node:assert/strict";
import { command } from "../../../cmd/sidecar.ts";
import { sidecarOptions } from "../../../cmd/sidecar/options.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { FILE_CLOCK_SLACK_MS } from "../../../core/trust/mod.ts";
import { startSidecarServer } from "../../../core/sidecar/mod.ts";
import { post, startAgent } from "./fixtures.ts";

/** A source tree of the shape the attestation hashes. */
async function tree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "iatp-late-load-" });
  await Deno.mkdir(`${dir}/core/sidecar`, { recursive: true });
  await Deno.mkdir(`${dir}/cmd`);
  await Deno.writeTextFile(`${dir}/main.ts`, "export {};\n");
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.writeTextFile(`${dir}/core/sidecar/proxy.ts`, "export const a = 1;\n");
  // A start within the file clock's lag of the last write would count that write as after it.
  const written = Date.now();
  while (Date.now() <= written + FILE_CLOCK_SLACK_MS) await new Promise((r) => setTimeout(r, 5));
  return dir;
}

/** Waits until a file written now gets a change time after `t` (the kernel's clock may lag). */
async function fileClockPast(t: number): Promise<void> {
  const probe = await Deno.makeTempFile({ prefix: "iatp-late-load-clock-" });
  try {
    for (;;) {
      await Deno.writeTextFile(probe, String(Math.random()));
      const { ctime, mtime } = await Deno.stat(probe);
      if ((ctime ?? mtime)!.getTime() > t) return;
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    await Deno.remove(probe);
  }
}

async function start(sourceRoot: string) {
  const agent = startAgent();
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const log = createLogger({
    service: "sidecar",
    level: "debug",
    sink: (l) => lines.push(JSON.parse(l)),
  });
  const config = await command.spec.resolveAsync({
    port: 0,
    drain_timeout: 2_000,
    workers: 1,
    agent_url: agent.url,
  });
  const options = sidecarOptions(config, log);
  const startedAt = Date.now();
  const svc = await startSidecarServer({
    ...options,
    identity: { ...options.identity, sourceRoot, startedAt },
  });
  return {
    url: svc.url,
    agent,
    lines,
    startedAt,
    close: async () => {
      await svc.close();
      await agent.close();
    },
  };
}

Deno.test("sidecar: the request path loaded after a source changed is refused (503, not ready), the attestation goes", async () => {
  const dir = await tree();
  const s = await start(dir);
  try {
    const attestation = () => fetch(`${s.url}/.well-known/agent-attestation`);
    const first = await attestation();
    assert.equal(first.status, 200, await first.text());
    await fileClockPast(s.startedAt);
    await Deno.writeTextFile(`${dir}/core/sidecar/proxy.ts`, "export const a = 2;\n");

    const r = await post(s.url, { q: "hello" });
    assert.equal(r.status, 503, r.text);
    assert.match(String(r.json.error), /sources changed since it started/);
    assert.equal(s.agent.received.length, 0, "nothing reached the agent through that code");
    assert.equal((await post(s.url, { q: "again" })).status, 503, "for the life of the process");
    // An operator's probes see it: /health degraded with the reason, /ready 503 (a restart cures).
    const health = await (await fetch(`${s.url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.match(health.reason, /^proxy: .*sources changed since it started/);
    const ready = await fetch(`${s.url}/ready`);
    assert.equal(ready.status, 503);
    assert.equal((await ready.json()).ready, false);
    const after = await attestation();
    assert.equal(after.status, 404, "not the start's hash over code read later");
    await after.body?.cancel();
    assert.ok(
      s.lines.some((l) => l.level === "error" && l.fields?.path === "core/sidecar/proxy.ts"),
    );
  } finally {
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sidecar: with its sources unchanged the request path loads and serves", async () => {
  const dir = await tree();
  const s = await start(dir);
  try {
    const r = await post(s.url, { q: "hello" });
    assert.equal(r.status, 200, r.text);
    assert.equal(s.agent.received.length, 1);
    assert.equal((await (await fetch(`${s.url}/health`)).json()).status, "healthy");
    const ready = await fetch(`${s.url}/ready`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    const att = await fetch(`${s.url}/.well-known/agent-attestation`);
    assert.equal(att.status, 200, await att.text());
  } finally {
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});
