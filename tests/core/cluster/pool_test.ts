/**
 * The worker pool with real Deno Workers: calls and their errors cross isolates, a worker that
 * crashes or whose service fails fails the pool naming it, a worker that cannot start fails the
 * start, close drains every worker.
 * @module
 */
import assert from "node:assert/strict";
import { startWorkers, type WorkerPoolOptions } from "../../../core/cluster/mod.ts";
import { HttpError } from "../../../core/errors/mod.ts";
import { silentLogger } from "../../../core/log/mod.ts";

const module = new URL("./fixtures/test_worker.ts", import.meta.url);

function options(over: Partial<WorkerPoolOptions> = {}): WorkerPoolOptions {
  return {
    count: 2,
    module,
    service: "test",
    log: silentLogger,
    init: () => ({}),
    handlers: {},
    closeTimeoutMs: 2_000,
    ...over,
  };
}

Deno.test("pool: calls reach every worker; an HTTP error keeps its status", async () => {
  const pool = await startWorkers(options());
  try {
    const answers = await pool.callAll("echo", { n: 7 });
    assert.deepEqual(answers.map((a) => a.status === "fulfilled" && a.value), [{ n: 7 }, { n: 7 }]);
    await assert.rejects(
      pool.channels[1].call("teapot"),
      (err) => err instanceof HttpError && err.status === 418 && err.message === "short and stout",
    );
    await assert.rejects(pool.channels[0].call("nothing-here"), /no handler for nothing-here/);
  } finally {
    await pool.close();
  }
});

Deno.test("pool: a worker that crashes fails the pool, naming it", async () => {
  const pool = await startWorkers(options());
  try {
    // Its answer may lose the race with the failure, which abandons the calls waiting.
    pool.channels[1].call("crash").catch(() => {});
    const err = await pool.failed;
    assert.match(err.message, /test worker 2 failed: .*boom/);
  } finally {
    await pool.close();
  }
});

Deno.test("pool: a worker whose service fails fails the pool", async () => {
  const pool = await startWorkers(options());
  try {
    pool.channels[0].call("fail").catch(() => {});
    assert.match((await pool.failed).message, /test worker 1 failed: listener died/);
  } finally {
    await pool.close();
  }
});

Deno.test("pool: a worker that cannot start fails the start", async () => {
  await assert.rejects(
    startWorkers(options({ init: (i) => ({ failStart: i === 2 }) })),
    /test workers did not start: cannot start: address in use/,
  );
});

Deno.test("pool: close drains every worker once", async () => {
  const closed: number[] = [];
  const pool = await startWorkers(options({ handlers: { closed: (_d, i) => closed.push(i) } }));
  await Promise.all([pool.close(), pool.close()]);
  assert.deepEqual(closed.sort(), [1, 2]);
});
