import assert from "node:assert/strict";
import { createHealthServer, healthBody } from "../../../core/agents/health.ts";
import { silentLogger } from "../../../core/log/mod.ts";

Deno.test("health body: degraded when a configured component is not ok", () => {
  assert.equal(
    healthBody("s", "a", { relay: { ok: false, configured: false }, q: { ok: true } }).status,
    "ok",
  );
  assert.equal(
    healthBody("s", "a", { plugins: { ok: false }, q: { ok: true } }).status,
    "degraded",
  );
});

Deno.test("health server: custom paths and a separate metrics port", async () => {
  const hs = createHealthServer({
    service: "action",
    agentId: "a1",
    host: "127.0.0.1",
    port: 0,
    healthPath: "/healthz",
    metrics: { enabled: true, path: "/prom", port: 0 },
    log: silentLogger,
    components: () => ({ queue: { ok: true, depth: 3 } }),
  });
  const svc = await hs.listen();
  try {
    const h = await (await fetch(`${svc.url}/healthz`)).json();
    assert.equal(h.components.queue.depth, 3);
    assert.equal(h.agent_id, "a1");
    const alias = await fetch(`${svc.url}/prom`);
    assert.match(await alias.text(), /process_resident_memory_bytes/);
    assert.ok(svc.metricsUrl);
    assert.notEqual(new URL(svc.metricsUrl).port, new URL(svc.url).port);
    const sep = await fetch(svc.metricsUrl);
    assert.match(await sep.text(), /process_resident_memory_bytes/);
    const nf = await fetch(new URL("/nope", svc.metricsUrl));
    assert.equal(nf.status, 404);
    await nf.body?.cancel();
  } finally {
    await svc.close();
  }
});
