/** Tests for the timers that leave the Node layer unloaded (core/async/wheel.ts). @module */
import assert from "node:assert/strict";
import {
  after,
  delayOf,
  every,
  MAX_DELAY_MS,
  MAX_TIMERS,
  pendingTimers,
  type Timer,
} from "../../../core/async/mod.ts";

/**
 * Runs `body` with the event loop held open: the wheel's timers do not hold it themselves, and a
 * test whose only pending work is such a timer would end with the loop empty.
 */
async function held(body: () => Promise<void>): Promise<void> {
  const keep = setInterval(() => {}, 60_000);
  try {
    await body();
  } finally {
    clearInterval(keep);
  }
}

/** A promise resolved by a one-shot timer, with the time it ran. */
function ran(ms: number, log?: string[], name?: string): Promise<number> {
  return new Promise((resolve) =>
    after(ms, () => {
      if (log && name) log.push(name);
      resolve(performance.now());
    })
  );
}

Deno.test("a timer never runs before its time", () =>
  held(async () => {
    for (const ms of [1, 7, 30]) {
      const start = performance.now();
      const at = await ran(ms);
      assert.ok(at - start >= ms, `${ms} ms timer ran after ${at - start} ms`);
    }
  }));

Deno.test("timers run in due order, and those due together in the order they were armed", () =>
  held(async () => {
    const log: string[] = [];
    const all = [
      ran(40, log, "c"),
      ran(10, log, "a"),
      ran(25, log, "b1"),
      ran(25, log, "b2"),
      ran(25, log, "b3"),
    ];
    await Promise.all(all);
    assert.deepEqual(log, ["a", "b1", "b2", "b3", "c"]);
  }));

Deno.test("an earlier timer armed after a later one is not held up by it", () =>
  held(async () => {
    const before = pendingTimers();
    let late = false;
    const long = after(3_600_000, () => late = true);
    await ran(5);
    assert.equal(late, false);
    long.cancel();
    assert.equal(pendingTimers(), before);
  }));

Deno.test("a cancelled timer never runs, also when cancelled by a timer due with it", () =>
  held(async () => {
    const log: string[] = [];
    const gone = after(5, () => log.push("cancelled early"));
    gone.cancel();
    gone.cancel(); // idempotent
    let second: Timer | undefined = undefined;
    after(20, () => {
      log.push("first");
      second?.cancel();
    });
    second = after(20, () => log.push("second"));
    await ran(40, log, "after");
    assert.deepEqual(log, ["first", "after"]);
  }));

Deno.test("a repeating timer runs until cancelled, and may cancel itself", () =>
  held(async () => {
    const before = pendingTimers();
    let runs = 0;
    const { promise, resolve } = Promise.withResolvers<void>();
    const t = every(3, () => {
      if (++runs === 4) {
        t.cancel();
        resolve();
      }
    });
    await promise;
    await ran(20);
    assert.equal(runs, 4, "no run after cancel");
    assert.equal(pendingTimers(), before);
  }));

Deno.test("a delay too long for a timer waits the longest one, never less", () =>
  held(async () => {
    for (const ms of [Infinity, 2 ** 32, 2 ** 40]) assert.equal(delayOf(ms), MAX_DELAY_MS);
    for (const ms of [-5, Number.NaN, 0]) assert.equal(delayOf(ms), 0);
    let ran = false;
    const t = after(Infinity, () => ran = true);
    await new Promise((resolve) => after(20, () => resolve(null)));
    assert.equal(ran, false);
    t.cancel();
  }));

Deno.test("the queue is bounded", () => {
  const before = pendingTimers();
  const armed: Timer[] = [];
  try {
    while (pendingTimers() < MAX_TIMERS) armed.push(after(3_600_000, () => {}));
    assert.throws(() => after(1, () => {}), RangeError);
  } finally {
    for (const t of armed) t.cancel();
  }
  assert.equal(pendingTimers(), before);
});

/** Runs `code` in a fresh Deno process importing the wheel as `w`. */
async function inProcess(code: string): Promise<Deno.CommandOutput> {
  const url = new URL("../../../core/async/wheel.ts", import.meta.url).href;
  return await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import * as w from ${JSON.stringify(url)};\n${code}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("waiting timers do not hold the process open", async () => {
  const out = await inProcess(`w.after(3_600_000, () => Deno.exit(3)); w.every(1_000, () => {});`);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

Deno.test("an error thrown by a timer's callback is an uncaught error of the process", async () => {
  const out = await inProcess(
    `const keep = setTimeout(() => Deno.exit(4), 60_000);
     w.after(1, () => { throw new Error("boom from a timer"); });`,
  );
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /boom from a timer/);
});
