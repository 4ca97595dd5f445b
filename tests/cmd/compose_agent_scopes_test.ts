/**
 * The compose-agent names at start each scope that grants none of its commands (scopes are
 * deny-by-default, so a typo would leave every caller refused without a word).
 */
import assert from "node:assert/strict";
import { startIatpService, tempDir } from "../helpers.ts";

Deno.test("compose-agent: a scope that grants no command is warned about at start, with the one it resembles", async () => {
  const dir = await tempDir();
  const agent = await startIatpService(["compose-agent", "--port", "0"], {
    env: {
      IATP_DATA_DIR: dir.path,
      IATP_COMPOSE_AGENT_AGENT_ID: "compose-1",
      IATP_COMPOSE_AGENT_AGENT_TOKEN: "compose-agent-test-key-0123456789",
      IATP_COMPOSE_AGENT_DOCKER_SOCKET: `${dir.path}/none.sock`,
      IATP_COMPOSE_AGENT_SCOPES: "docker:restrat,docker:logs,compose:*,commands:wait,bogus:*",
    },
  });
  try {
    const warned = agent.stdout().split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === "scopes: an entry grants no command of this agent")
      .map((l) => l.fields);
    assert.deepEqual(warned, [
      { scope: "docker:restrat", did_you_mean: "docker:restart" },
      { scope: "bogus:*" },
    ]);
  } finally {
    await agent.stop();
    await dir.remove();
  }
});
