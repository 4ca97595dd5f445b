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
  await p; // the test's timer sanitizer fails it if the hour-long timer were left behind
});

Deno.test("an already aborted signal or a non-positive time resolves at once", async () => {
  const ac = new AbortController();
  ac.abort();
  await sleep(3_600_000, ac.signal);
  await sleep(0);
  await sleep(-1);
  await sleep(Number.NaN);
});
