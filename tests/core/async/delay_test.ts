/** Tests for the abortable sleep. @module */
import assert from "node:assert/strict";
import { sleep } from "../../../core/async/mod.ts";

Deno.test("sleep resolves after its time", async () => {
  let done = false;
  const p = sleep(5).then(() => done = true);
  assert.equal(done, false, "not at once");
  await p;
  assert.equal(done, true);
});

Deno.test("an abort ends a long sleep at once, without throwing; no timer is left", async () => {
  const ac = new AbortController();
  const p = sleep(3_600_000, ac.signal);
  ac.abort(new Error("stop"));
  await p;
});

/** Runs `code` in a fresh Deno process importing the async module as `a`. */
async function inProcess(code: string): Promise<{ code: number; out: string; err: string }> {
  const url = new URL("../../../core/async/mod.ts", import.meta.url).href;
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import * as a from ${JSON.stringify(url)};\n${code}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: o.code, out: text(o.stdout).trim(), err: text(o.stderr) };
}

Deno.test("a sleep holds the process open until it ends; an aborted one holds nothing", async () => {
  const waited = await inProcess(`await a.sleep(30); console.log("slept");`);
  assert.deepEqual([waited.code, waited.out], [0, "slept"], waited.err);
  const aborted = await inProcess(
    `const ac = new AbortController(); const p = a.sleep(3_600_000, ac.signal);
     ac.abort(); await p; console.log("done");`,
  );
  assert.deepEqual([aborted.code, aborted.out], [0, "done"], aborted.err);
});

Deno.test("a sleep too long for a timer does not end at once", async () => {
  const ac = new AbortController();
  let ended = false;
  const p = sleep(Infinity, ac.signal).then(() => ended = true);
  const q = sleep(2 ** 40, ac.signal);
  await sleep(20);
  assert.equal(ended, false);
  ac.abort();
  await Promise.all([p, q]);
});

Deno.test("an already aborted signal or a non-positive time resolves at once", async () => {
  const ac = new AbortController();
  ac.abort();
  await sleep(3_600_000, ac.signal);
  await sleep(0);
  await sleep(-1);
  await sleep(Number.NaN);
});
