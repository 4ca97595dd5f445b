import assert from "node:assert/strict";
import { HttpError } from "../../../core/errors/mod.ts";
import { readBody, readBodyPrefix } from "../../../core/http/mod.ts";

const status = (s: number) => (err: unknown) => err instanceof HttpError && err.status === s;

/** A streamed body of `sizes` chunks; `hang` leaves it open after them. */
function streamed(sizes: number[], opts: { hang?: boolean; fail?: boolean } = {}) {
  let i = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < sizes.length) return c.enqueue(new Uint8Array(sizes[i++]).fill(97));
      if (opts.fail) return c.error(new Error("connection reset"));
      if (!opts.hang) c.close();
      return new Promise(() => {}); // never more
    },
    cancel() {
      cancelled = true;
    },
  });
  return { res: new Response(body), cancelled: () => cancelled };
}

Deno.test("readBody returns the whole body within the limit", async () => {
  assert.deepEqual(
    await readBody(new Response("hello"), { limit: 5 }),
    new TextEncoder().encode("hello"),
  );
  assert.equal((await readBody(new Response(null), { limit: 0 })).length, 0);
  const { res } = streamed([3, 4, 5]);
  assert.equal((await readBody(res, { limit: 12 })).length, 12);
});

Deno.test("readBody refuses a declared length over the limit without reading", async () => {
  const s = streamed([100], { hang: true });
  const req = new Request("http://x/", {
    method: "POST",
    body: s.res.body,
    headers: { "content-length": "100" },
  });
  await assert.rejects(readBody(req, { limit: 10 }), status(413));
  await assert.rejects(
    readBody(
      new Request("http://x/", { method: "POST", body: "x", headers: { "content-length": "1x" } }),
      {
        limit: 10,
      },
    ),
    status(400),
  );
});

Deno.test("readBody cuts off a body that grows past the limit and cancels the rest", async () => {
  const s = streamed([6, 6, 6], { hang: true });
  await assert.rejects(readBody(s.res, { limit: 10 }), status(413));
  assert.ok(s.cancelled(), "the rest of the body is cancelled");
});

Deno.test("readBody: a body that breaks off is 400, one that stalls past timeoutMs is 408", async () => {
  await assert.rejects(readBody(streamed([3], { fail: true }).res, { limit: 10 }), status(400));
  const stalled = streamed([3], { hang: true });
  await assert.rejects(readBody(stalled.res, { limit: 10, timeoutMs: 50 }), status(408));
  assert.ok(stalled.cancelled());
});

Deno.test("readBodyPrefix keeps the first bytes and says it truncated", async () => {
  const s = streamed([4, 4, 4], { hang: true });
  const { bytes, truncated } = await readBodyPrefix(s.res, 6);
  assert.equal(bytes.length, 6);
  assert.equal(truncated, true);
  assert.ok(s.cancelled());
  const whole = await readBodyPrefix(new Response("abc"), 6);
  assert.deepEqual([whole.bytes.length, whole.truncated], [3, false]);
});

Deno.test("a body cut off by its request's deadline (no timeout of the read's own) says so", async () => {
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      c.error(new DOMException("The signal has been aborted", "TimeoutError"));
    },
  });
  await assert.rejects(readBody(new Response(body), { limit: 1024 }), (err: unknown) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 408);
    assert.equal(err.message, "body not received before the request's deadline");
    return true;
  });
});
