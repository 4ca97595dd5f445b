/** Tests for deadlines and bounded waits. @module */
import assert from "node:assert/strict";
import {
  deadline,
  isTimeout,
  settledWithin,
  sleep,
  timeoutSignal,
} from "../../../core/async/mod.ts";

const never = () => new Promise<never>(() => {});

Deno.test("deadline passes a value or an error through when the promise wins", async () => {
  assert.equal(await deadline(Promise.resolve(7), 3_600_000), 7);
  await assert.rejects(deadline(Promise.reject(new RangeError("x")), 3_600_000), RangeError);
});

Deno.test("deadline rejects with a TimeoutError DOMException when time runs out", async () => {
  const err = await deadline(never(), 1).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof DOMException);
  assert.equal(err.name, "TimeoutError");
  assert.equal(isTimeout(err), true);
  assert.equal(isTimeout(new Error("TimeoutError")), false);
});

Deno.test("deadline rejects with the signal's reason on abort, before or during", async () => {
  const reason = new Error("cancelled");
  const before = new AbortController();
  before.abort(reason);
  await assert.rejects(
    deadline(never(), 3_600_000, { signal: before.signal }),
    (e) => e === reason,
  );
  const during = new AbortController();
  const p = deadline(never(), 3_600_000, { signal: during.signal });
  during.abort(reason);
  await assert.rejects(p, (e) => e === reason);
});

Deno.test("settledWithin: true when settled (even rejected) in time, false otherwise", async () => {
  assert.equal(await settledWithin(Promise.resolve(), 3_600_000), true);
  assert.equal(await settledWithin(Promise.reject(new Error("x")), 3_600_000), true);
  assert.equal(await settledWithin(never(), 1), false);
});

Deno.test("a wait longer than a timer takes waits its longest, not 1 ms", async () => {
  // The global timers run a delay past 2^31 - 1 ms (about 24.8 days) after 1 ms.
  const month = 30 * 86_400_000;
  const slow = deadline(never(), month);
  slow.catch(() => {});
  const first = await Promise.race([slow.then(() => "deadline", () => "deadline"), sleep(50)]);
  assert.equal(first, undefined, "the deadline did not expire first");
  const settled = settledWithin(never(), month);
  assert.equal(await Promise.race([settled, sleep(50).then(() => "slept")]), "slept");
  const signal = timeoutSignal(month);
  await sleep(50);
  assert.equal(signal.aborted, false);
});
