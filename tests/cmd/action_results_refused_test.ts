/**
 * An action agent whose relay credential lacks `publish:action.results`: every result is refused
 * and kept for retry, and `/health` says so (degraded, naming the scope) rather than ok.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { health, writeFixturePlugins } from "../core/agents/fixtures.ts";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { tempDir, waitFor } from "../helpers.ts";

const AGENT = "results-refused";
const OPS = "ops-credential-0001";
const AGENT_TOKEN = "agent-reads-only-0001";

Deno.test("action agent: results the relay refuses (no publish scope) make /health degraded", async () => {
  const dir = await tempDir("iatp-action-refused-");
  await writeFixturePlugins(join(dir.path, "plugins"));
  const relay = await startRelay({
    tokens: {
      [OPS]: [`publish:action.tasks.${AGENT}`],
      [AGENT_TOKEN]: [`subscribe:action.tasks.${AGENT}`],
    },
  });
  const agent = await command.start(command.resolve({
    agent: { id: AGENT, base_folder: join(dir.path, "agent"), heartbeat: 60_000 },
    plugins: { directory: join(dir.path, "plugins") },
    relay: { url: relay.url, token: AGENT_TOKEN },
    health: { port: 0 },
    logging: { level: "error" },
  }));
  try {
    const results = async () =>
      ((await health(agent.url)).components as Record<string, Record<string, unknown>>).results;
    assert.equal((await results()).ok, true, "nothing to deliver yet");
    const task = { id: "r-1", plugin_id: "echo-action", instruction_type: "execute" };
    const res = await publish(relay.url, `action.tasks.${AGENT}`, task, {
      authorization: `Bearer ${OPS}`,
    });
    assert.equal(res.status, 200);
    await waitFor(async () => Number((await results()).failed) >= 1, 20_000, "a refused delivery");
    const body = await health(agent.url);
    assert.equal(body.status, "degraded");
    assert.match(
      String(body.reason),
      /^results: the latest result was not delivered \(kept and retried\): .*403.*publish:action\.results/,
    );
    assert.equal((await results()).delivered, 0);
  } finally {
    await agent.close();
    await relay.close();
    await dir.remove();
  }
});
