import assert from "node:assert/strict";
import { join } from "node:path";
import { command } from "../../cmd/action.ts";
import { createLogger } from "../../core/log/mod.ts";
import { tempDir, waitFor } from "../helpers.ts";

/**
 * Starts an action agent against an orchestrator whose answers `answer` makes (the request's
 * path and method), counting each call; the agent polls and sweeps once a second, and its rate
 * limit is far above that, so only the agent's own pacing bounds its calls.
 */
async function agentAgainst(
  answer: (path: string, method: string) => Record<string, unknown>,
  fn: (counts: Map<string, number>) => Promise<void>,
): Promise<void> {
  const dir = await tempDir();
  const counts = new Map<string, number>();
  const orch = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    await req.body?.cancel();
    const call = path.endsWith("/instructions")
      ? "poll"
      : path.endsWith("/result")
      ? "result"
      : path.endsWith("/heartbeat")
      ? "heartbeat"
      : "other";
    counts.set(call, (counts.get(call) ?? 0) + 1);
    return Response.json(answer(path, req.method));
  });
  const config = command.resolve({
    agent: {
      id: "again",
      base_folder: join(dir.path, "base"),
      poll_interval: 1000,
      heartbeat: 1000,
    },
    api: {
      base_url: `http://127.0.0.1:${orch.addr.port}`,
      rate_limit_rps: 5000,
      rate_limit_burst: 5000,
    },
    security: { auth: { api_key: "again-token-001" } },
    health: { port: 0 },
    logging: { level: "error" },
  });
  const log = createLogger({ service: "action", level: "error", sink: () => {} });
  const svc = await command.start(config, { log });
  try {
    await fn(counts);
  } finally {
    await svc.close();
    await orch.shutdown();
    await dir.remove();
  }
}

// `nope` is no plugin: the instruction fails at once, and its result is what is re-sent.
const FINISHED = { id: "done-1", instruction_type: "execute", plugin_id: "nope" };

Deno.test("action: an instruction piggy-backed again on every result's answer is re-reported once a sweep, not in a loop", async () => {
  let first = true;
  await agentAgainst((path) => {
    if (path.endsWith("/instructions")) {
      const out = first ? { instruction: FINISHED } : {};
      first = false;
      return out;
    }
    if (path.endsWith("/result")) return { acknowledged: true, next_instruction: FINISHED };
    return {};
  }, async (counts) => {
    await waitFor(() => (counts.get("result") ?? 0) >= 2, 20_000, "the result re-sent");
    await waitFor(() => (counts.get("poll") ?? 0) >= 6, 20_000, "six polls");
    // Polls and sweeps both come once a second; a loop would send hundreds of results meanwhile.
    const polls = counts.get("poll")!;
    const results = counts.get("result")!;
    assert.ok(results <= 2 * polls + 2, `${results} results in ${polls} polls`);
  });
});

Deno.test("action: a poll answering a finished instruction again waits agent.poll_interval before the next", async () => {
  await agentAgainst((path) => {
    if (path.endsWith("/instructions")) return { instruction: FINISHED };
    if (path.endsWith("/result")) return { acknowledged: true };
    return {};
  }, async (counts) => {
    const started = performance.now();
    await waitFor(() => (counts.get("heartbeat") ?? 0) >= 6, 20_000, "six heartbeats");
    // Polled at once after each redelivery, the agent would poll hundreds of times a second. A
    // paced agent polls about twice per poll_interval (1 s: a poll, and the one after a result's
    // answer); a busy host has read 16 polls in about 5 s, so the bound is the time that passed,
    // with room, not a count of heartbeats.
    const polls = counts.get("poll") ?? 0;
    const seconds = Math.ceil((performance.now() - started) / 1000);
    assert.ok(polls >= 1 && polls <= 4 * seconds + 4, `${polls} polls in ${seconds} s`);
  });
});
