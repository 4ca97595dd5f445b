/**
 * What every service command does when things go wrong: a failed listener ends the command
 * with exit 1 (after closing the service), and a rejection nobody handled is logged, scrubbed,
 * and ends the process with 70; the level its logger writes from.
 * @module
 */
import assert from "node:assert/strict";
import { EXIT_UNHANDLED, runUntilStopped, serviceLogger } from "../../cmd/shared.ts";
import { createLogger } from "../../core/log/mod.ts";
import { ROOT } from "../helpers.ts";

Deno.test("a service whose listener fails: closed, and the command returns 1", async () => {
  const lines: string[] = [];
  const log = createLogger({ service: "t", sink: (l) => lines.push(l) });
  const failed = Promise.withResolvers<Error>();
  let closed = 0;
  const code = runUntilStopped({
    url: "http://127.0.0.1:1",
    close: () => {
      closed++;
      return Promise.resolve();
    },
    failed: failed.promise,
  }, log);
  failed.resolve(new Error("listener failed", { cause: new Error("EBADF") }));
  assert.equal(await code, 1);
  assert.equal(closed, 1);
  assert.ok(lines.some((l) => l.includes("service failed; exiting for a restart")));
});

Deno.test("an unhandled rejection is logged (scrubbed) and exits 70", async () => {
  const script = `
    import { exitOnUnhandledRejection } from "${ROOT}cmd/shared.ts";
    exitOnUnhandledRejection();
    Promise.reject(new Error("boom Bearer abcdefghijklmnop"));
    setTimeout(() => console.log("still running"), 2000);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, EXIT_UNHANDLED, stderr);
  assert.equal(new TextDecoder().decode(out.stdout), "", "the process did not carry on");
  const line = JSON.parse(stderr.trim().split("\n").at(-1)!);
  assert.equal(line.msg, "unhandled rejection; exiting");
  assert.match(line.fields.reason, /boom/);
  assert.doesNotMatch(line.fields.reason, /abcdefghijklmnop/);
});

Deno.test("a service's logger takes its level from log_level, or from an agent's logging.level", () => {
  assert.equal(serviceLogger("relay", { log_level: "warn" }).level, "warn");
  assert.equal(
    serviceLogger("sensor", { logging: { level: "error", format: "json" } }).level,
    "error",
  );
  assert.equal(serviceLogger("action", { logging: { level: "debug" } }).level, "debug");
  assert.equal(serviceLogger("status", {}).level, "info");
  assert.equal(serviceLogger("sensor", { logging: { level: "loud" } }).level, "info");
});
