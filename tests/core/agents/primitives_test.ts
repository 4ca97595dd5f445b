import assert from "node:assert/strict";
import { ExecutionLog, logLine, MAX_LOG_LINE_CHARS } from "../../../core/agents/exec_log.ts";
import { TaskQueue } from "../../../core/agents/queue.ts";
import { boundResult } from "../../../core/agents/results.ts";
import { registerSecret, silentLogger } from "../../../core/log/mod.ts";
import { delay, waitFor } from "../../helpers.ts";

Deno.test("execution log: [RFC3339 ms] lines, scrubbed, bounded", () => {
  registerSecret("exec-log-secret-42");
  const line = logLine("token exec-log-secret-42\nnext", new Date(Date.UTC(2006, 0, 2, 15, 4, 5)));
  assert.equal(line, "[2006-01-02T15:04:05.000Z] token [REDACTED] next");
  assert.ok(logLine("x".repeat(5000)).length < MAX_LOG_LINE_CHARS + 60);
  const log = new ExecutionLog(10);
  for (let i = 0; i < 100; i++) log.add(`line ${i}`);
  const lines = log.lines();
  assert.equal(lines.length, 11);
  assert.match(lines[0], /\] line 0$/);
  assert.match(lines[5], /90 lines omitted/);
  assert.match(lines[10], /\] line 99$/);
  for (const l of lines) assert.match(l, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] /);
});

Deno.test("execution log: a plugin's control characters are written out, not sent to a terminal", () => {
  const at = new Date(Date.UTC(2006, 0, 2, 15, 4, 5));
  const forged =
    "plugin: ok\u001b[2K\u001b[1G[2006-01-02T15:04:05.000Z] completed\u2028x\u0085y\tz";
  assert.equal(
    logLine(forged, at),
    "[2006-01-02T15:04:05.000Z] plugin: ok\\u001b[2K\\u001b[1G[2006-01-02T15:04:05.000Z] " +
      "completed\\u2028x\\u0085y\tz",
  );
});

Deno.test("task queue: never more than `concurrency` at once; full queue refuses", async () => {
  let running = 0;
  let peak = 0;
  const q = new TaskQueue<number>({
    concurrency: 2,
    maxQueued: 3,
    log: silentLogger,
    run: async () => {
      running++;
      peak = Math.max(peak, running);
      await delay(30);
      running--;
    },
  });
  const accepted = [1, 2, 3, 4, 5, 6].map((n) => q.offer(n));
  assert.deepEqual(accepted, [true, true, true, true, true, false]);
  assert.equal(q.hasIdleWorker(), false);
  await waitFor(() => q.running === 0 && q.depth === 0, 10_000, "queue to drain");
  assert.equal(peak, 2);
  assert.equal(q.hasIdleWorker(), true);
  assert.equal(await q.close(1_000), true);
  assert.equal(q.offer(7), false);
});

Deno.test("results: an oversized output is cut to a preview under the bound", () => {
  const body = {
    status: "completed" as const,
    result: { output: "y".repeat(100_000), duration_ms: 1 },
    execution_log: ["[2006-01-02T15:04:05.000Z] x"],
  };
  const out = boundResult(body, 4096);
  assert.ok(JSON.stringify(out).length <= 4096);
  assert.equal((out.result as { truncated: boolean }).truncated, true);
});
