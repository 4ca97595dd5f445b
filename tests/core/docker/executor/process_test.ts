/**
 * The compose runner's child processes: a process the command leaves running, holding its output
 * pipes, does not hold the wait for the command open past its end (nor past its deadline).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProcess } from "../../../../core/docker/executor/process.ts";
import { tempDir } from "../../../helpers.ts";

/**
 * Runs `script` under sh; the process it starts in the background writes its pid to a file and
 * sleeps, holding the pipes. Without the bound, the wait lasts until that process ends: it is
 * killed after a while so the run ends then, without the note, and the test fails.
 */
async function withLeftover(script: string, timeoutMs: number) {
  const dir = await tempDir();
  const pidFile = join(dir.path, "pid");
  let leftover: number | undefined;
  const reaper = setInterval(() => {
    try {
      leftover ??= Number(Deno.readTextFileSync(pidFile).trim()) || undefined;
    } catch { /* not written yet */ }
  }, 50);
  const stop = () => {
    if (leftover === undefined) return;
    try {
      Deno.kill(leftover, "SIGKILL");
    } catch { /* gone */ }
  };
  const unblock = setTimeout(stop, 30_000);
  try {
    const full = `sleep 600 & echo $! > '${pidFile}'; ${script}`;
    return await runProcess("sh", ["-c", full], { timeoutMs, env: { PATH: "/usr/bin:/bin" } });
  } finally {
    clearInterval(reaper);
    clearTimeout(unblock);
    stop();
    await dir.remove();
  }
}

Deno.test("a command that ends leaving a process on its pipes is answered, with what it wrote", async () => {
  const r = await withLeftover("echo done; echo failing >&2; exit 3", 60_000);
  assert.equal(r.code, 3);
  assert.equal(r.timedOut, false);
  assert.match(r.stdout, /^done\n/);
  assert.match(r.stderr, /^failing\n/);
  assert.match(r.stderr, /output still open 1 s after the command ended/);
});

Deno.test("a command stopped at its deadline is answered though a process it left holds its pipes", async () => {
  const r = await withLeftover("echo started; exec sleep 600", 200);
  assert.equal(r.timedOut, true);
  assert.match(r.stdout, /^started\n/);
  assert.match(r.stdout, /not read further/);
});

Deno.test("a command whose pipes close with it is read to its end, with no note", async () => {
  const r = await runProcess("sh", ["-c", "echo out; echo err >&2"], {
    timeoutMs: 60_000,
    env: { PATH: "/usr/bin:/bin" },
  });
  assert.deepEqual(r, { code: 0, stdout: "out\n", stderr: "err\n", timedOut: false });
});
