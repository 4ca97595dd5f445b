import assert from "node:assert/strict";
import { onceUntilFailure } from "../../../core/async/mod.ts";

Deno.test("onceUntilFailure: one make for every caller, again after a rejection", async () => {
  let calls = 0;
  let fail = true;
  const value = onceUntilFailure(async () => {
    calls++;
    await Promise.resolve();
    if (fail) throw new Error(`attempt ${calls}`);
    return calls;
  });
  // Concurrent first callers share the one attempt, and its rejection.
  const [a, b] = await Promise.allSettled([value(), value()]);
  assert.equal(calls, 1);
  assert.equal(a.status, "rejected");
  assert.equal(b.status, "rejected");
  // The next call makes it again; once it resolved, it is kept.
  fail = false;
  assert.equal(await value(), 2);
  fail = true;
  assert.equal(await value(), 2);
  assert.equal(calls, 2);
});
