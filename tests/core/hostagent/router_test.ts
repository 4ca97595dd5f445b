/**
 * The command router against a real HTTP compose-agent that answers what it should not: a
 * result outside the wire's statuses, a refusal whose reason is not text or is megabytes long.
 * The report the dashboard gets is in the wire's shape and bounded.
 */
import assert from "node:assert/strict";
import { staticToken } from "../../../core/auth/mod.ts";
import { CommandRouter } from "../../../core/hostagent/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";

/** A compose-agent that answers every command with `answer(command_id)`. */
async function withComposeAgent(
  answer: (id: string) => Response,
  run: (router: CommandRouter) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    return answer(body.command_id);
  });
  const identity = { agentId: "status-r", token: staticToken("router-test-key-0123456789abcdef") };
  const router = new CommandRouter(
    {
      kind: "compose_agent",
      url: `http://127.0.0.1:${server.addr.port}`,
      identity,
      timeoutMs: 20_000,
    },
    () => {
      throw new Error("no host snapshot in this test");
    },
    createLogger({ service: "status", level: "error", sink: () => {} }),
  );
  try {
    await run(router);
  } finally {
    await server.shutdown();
  }
}

const restart = (id: string) => ({ command_id: id, type: "restart", parameters: { name: "web" } });

Deno.test("a compose-agent answer with a status outside success|failed|timeout is reported failed", async () => {
  await withComposeAgent(
    (id) =>
      Response.json({
        command_id: id,
        status: "<script>alert(1)</script>",
        result: { ran: true },
        error: null,
        completed_at: "yesterday",
      }),
    async (router) => {
      const r = await router.execute(restart("odd-status-1"));
      assert.equal(r.status, "failed", JSON.stringify(r));
      assert.equal(r.executed_by, "compose_agent");
      assert.match(r.error ?? "", /compose-agent answered a result not in the command wire/);
      assert.doesNotMatch(JSON.stringify(r), /script/, "its value is not passed on");
    },
  );
});

Deno.test("a compose-agent refusal whose error is not text is reported with its HTTP status", async () => {
  await withComposeAgent(
    () => Response.json({ error: { nested: "x" } }, { status: 400 }),
    async (router) => {
      const r = await router.execute(restart("err-object-1"));
      assert.equal(r.status, "failed");
      assert.equal(r.error, "compose-agent refused: HTTP 400");
    },
  );
});

Deno.test("a compose-agent refusal with a megabyte-long error is reported with a bounded error", async () => {
  await withComposeAgent(
    () => Response.json({ error: "E".repeat(1_000_000) }, { status: 400 }),
    async (router) => {
      const r = await router.execute(restart("err-huge-1"));
      assert.equal(r.status, "failed");
      assert.ok(
        r.error !== null && r.error.startsWith("compose-agent refused: EEE"),
        r.error ?? "",
      );
      assert.ok(r.error.length <= 4200, `error of ${r.error.length} characters`);
      assert.match(r.error, /\(truncated\)$/);
      assert.ok(JSON.stringify(r).length < 10_000, "the whole report is bounded");
    },
  );
});

Deno.test("a compose-agent success answer is passed on as it came", async () => {
  await withComposeAgent(
    (id) =>
      Response.json({
        command_id: id,
        status: "success",
        result: { restarted: "web" },
        error: null,
        completed_at: "2026-01-01T00:00:00.000Z",
        executed_by: "compose_agent",
      }),
    async (router) => {
      const r = await router.execute(restart("ok-1"));
      assert.equal(r.status, "success");
      assert.deepEqual(r.result, { restarted: "web" });
      assert.equal(r.completed_at, "2026-01-01T00:00:00.000Z");
    },
  );
});
