/**
 * Result delivery: a delivery under way is delivered once, and a stop can wait for it, so a
 * result the relay took is marked reported and not reported again at the next start. A real
 * state database; the relay is a stand-in whose answer the test holds back.
 */
import assert from "node:assert/strict";
import { resultRelayKey, ResultReporter } from "../../../core/agents/reporter.ts";
import type { AgentRuntime } from "../../../core/agents/runtime.ts";
import { AgentState } from "../../../core/agents/state.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";

Deno.test("reporter: drain waits for a delivery under way; it is marked reported and sent once", async () => {
  const dir = await tempDir();
  const state = new AgentState(dir.path, { history: 10 });
  try {
    await state.open();
    state.claim("t-1", "relay", { id: "t-1", plugin_id: "p", instruction_type: "execute" });
    state.finish("t-1", "completed", { status: "completed", result: { output: 1 } });
    const published: unknown[] = [];
    const keys: Array<string | undefined> = [];
    let answer: () => void = () => {};
    const rt = {
      agentId: "a-1",
      log: createLogger({ service: "t", sink: () => {} }),
      state,
      relay: {
        publishNow(_topic: string, event: unknown, opts: { idempotencyKey?: string }) {
          published.push(event);
          keys.push(opts.idempotencyKey);
          return new Promise<void>((resolve) => answer = resolve);
        },
      },
      audit: () => Promise.resolve(),
    } as unknown as AgentRuntime;
    const reporter = new ResultReporter(rt, () => {});
    const delivery = reporter.deliver(state.get("t-1")!);
    assert.equal(await reporter.deliver(state.get("t-1")!), false, "one delivery at a time");
    let drained = false;
    const drain = reporter.drain().then(() => drained = true);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(drained, false, "drain waits for the relay's answer");
    assert.equal(state.unreported().length, 1);
    answer();
    await drain;
    assert.equal(await delivery, true);
    assert.equal(state.unreported().length, 0, "marked reported once the relay answered");
    await reporter.sweep();
    assert.equal(published.length, 1, "nothing is sent twice");
    await reporter.drain(); // nothing under way: at once
    // The relay key is the result's own, the same at every report of it (a report after a restart
    // is then not stored twice by the relay), and another agent's or instruction's differs.
    assert.equal(keys[0], resultRelayKey("a-1", "t-1"));
    assert.match(keys[0] ?? "", /^[\x21-\x7e]{1,128}$/);
    assert.notEqual(resultRelayKey("a-2", "t-1"), keys[0]);
    assert.notEqual(resultRelayKey("a-1", "t-2"), keys[0]);
  } finally {
    state.close();
    await dir.remove();
  }
});
