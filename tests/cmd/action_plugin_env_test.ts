import assert from "node:assert/strict";
import { join } from "node:path";
import { writeConfig, writePlugin } from "../core/agents/fixtures.ts";
import { startFakeOrchestrator } from "../support/fake_orchestrator.ts";
import { startIatpService, tempDir, waitFor } from "../helpers.ts";

// The agent's own settings (and so its credentials) come from IATP_* and STAVILY_* variables,
// its telemetry exporter's (headers with credentials) from OTEL_*: a plugin that declares one in
// `permissions.env` would be handed the value, and could return it in its output (sent to the
// orchestrator and to every reader of action.results, and kept in the state database).
Deno.test("iatp action: a plugin declaring the agent's own settings' env vars is refused, the key never in a result", async () => {
  const dir = await tempDir();
  const key = "agent-secret-key-4242";
  const orch = await startFakeOrchestrator({ agentId: "envy-agent", token: key });
  const plugins = join(dir.path, "plugins");
  const declared = [
    ["envy", "IATP_ACTION_SECURITY_AUTH_API_KEY"],
    ["envy-stavily", "STAVILY_API_KEY"],
    ["envy-otel", "OTEL_EXPORTER_OTLP_HEADERS"],
  ];
  for (const [id, name] of declared) {
    const read = `Deno.env.get(${JSON.stringify(name)}) ?? null`;
    const mod = `export function execute() { return { value: ${read} }; }`;
    await writePlugin(plugins, id, "action", mod, {}, { permissions: { env: [name] } });
  }
  const cfg = await writeConfig(dir.path, "action.yaml", {
    agent: { id: "envy-agent", base_folder: join(dir.path, "base"), poll_interval: 200 },
    api: { base_url: orch.url },
    plugins: { directory: plugins },
    health: { port: 0 },
  });
  const svc = await startIatpService(["action", "--config", cfg], {
    env: {
      IATP_ACTION_SECURITY_AUTH_API_KEY: key,
      STAVILY_API_KEY: "stavily-secret-4242",
      OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer otel-secret-4242",
    },
  });
  try {
    for (const id of ["envy", "envy-stavily", "envy-otel"]) {
      orch.enqueue({ id: `run-${id}`, instruction_type: "execute", plugin_id: id });
    }
    await waitFor(() => orch.results().length >= 3, 30_000, "three results");
    for (const r of orch.results()) {
      const text = JSON.stringify(r.body);
      assert.ok(
        !text.includes(key) && !text.includes("stavily-secret-4242") &&
          !text.includes("otel-secret-4242"),
        text,
      );
      assert.equal(r.body.status, "failed", text);
      const details = r.body.error_details as Record<string, unknown>;
      assert.equal(details.error_type, "denied", text);
      assert.match(
        String(r.body.error_message),
        /asks for env (IATP_ACTION_SECURITY_AUTH_API_KEY|STAVILY_API_KEY|OTEL_EXPORTER_OTLP_HEADERS)/,
      );
    }
    assert.deepEqual(orch.violations, []);
  } finally {
    await svc.stop();
    await orch.close();
    await dir.remove();
  }
});
