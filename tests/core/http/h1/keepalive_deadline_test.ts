/**
 * A keep-alive connection's next head is bounded whatever way it comes (or does not): a byte at
 * a time, cut at any offset, after a pipelined burst, its first bytes in the same read as the
 * previous body, the connection's remembered head cut short, or nothing at all. A head that is
 * not all there is answered 408 at `header_timeout` (here far sooner than `idle_timeout`); a
 * connection that sends nothing is closed at `idle_timeout`. Real sockets on loopback.
 * @module
 */
import assert from "node:assert/strict";
import { echoHead, startEchoEdge } from "../../../support/echo_server.ts";
import { json, RawConn } from "../../../support/raw_http.ts";
import { runGcProbe } from "../../../support/gc_probe.ts";

const setup = startEchoEdge;
const head = echoHead;
const other = (length: number) =>
  `POST /echo HTTP/1.1\r\nHost: localhost\r\nX-Other: 1\r\nContent-Length: ${length}\r\n\r\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Header deadline 300 ms, idle deadline 60 s: a 408 can only come from the head deadline. */
const HEAD_ONLY = { headerTimeoutMs: 300, idleTimeoutMs: 60_000 };

/** One served request, then `rest` (a head not all there): 408, and the connection closed. */
async function refusedAfterOne(port: number, rest: (c: RawConn) => Promise<void>) {
  const c = await RawConn.open(port);
  try {
    await c.write(`${head(2)}ok`);
    assert.deepEqual(json((await c.read())!), { text: "ok" });
    await rest(c);
    const r = await c.read(10_000);
    assert.equal(r?.status, 408);
    assert.ok(await c.closed(10_000), "and the connection is closed");
  } finally {
    c.close();
  }
}

Deno.test("a keep-alive head sent a byte at a time is answered 408 at header_timeout", async () => {
  const s = await setup(HEAD_ONLY);
  try {
    for (const h of [head(2), other(2)]) {
      // The remembered head and a new one: each byte comes well within header_timeout.
      const c = await RawConn.open(s.port);
      try {
        await c.write(`${head(2)}ok`);
        assert.deepEqual(json((await c.read())!), { text: "ok" });
        let refused = false;
        const answer = c.read(10_000).then((r) => {
          refused = true;
          return r;
        });
        for (let i = 0; i < h.length - 1 && !refused; i++) {
          try {
            await c.write(h[i]);
          } catch {
            break; // closed after the 408
          }
          await sleep(40);
        }
        assert.equal((await answer)?.status, 408);
        assert.ok(await c.closed(10_000));
      } finally {
        c.close();
      }
    }
  } finally {
    await s.close();
  }
});

Deno.test("a keep-alive head cut at any offset is answered 408; sent whole later, served", async () => {
  const s = await setup(HEAD_ONLY);
  try {
    for (const h of [head(2), other(2)]) {
      // Every cut, the empty line's own bytes included; all connections at once.
      await Promise.all(
        Array.from({ length: h.length - 1 }, (_, k) =>
          refusedAfterOne(s.port, async (c) => {
            await sleep(50);
            await c.write(h.slice(0, k + 1));
          })),
      );
      // The same cuts completed within the deadline are served.
      await Promise.all(Array.from({ length: h.length - 1 }, async (_, k) => {
        const c = await RawConn.open(s.port);
        try {
          await c.write(`${head(2)}ok`);
          assert.deepEqual(json((await c.read())!), { text: "ok" });
          await c.write(h.slice(0, k + 1));
          await sleep(20);
          await c.write(`${h.slice(k + 1)}no`);
          assert.deepEqual(json((await c.read())!), { text: "no" }, `cut ${k + 1}`);
        } finally {
          c.close();
        }
      }));
    }
  } finally {
    await s.close();
  }
});

Deno.test("a partial head after a pipelined burst, or in the previous body's read, is answered 408", async () => {
  const s = await setup(HEAD_ONLY);
  try {
    // Five whole requests and the start of a sixth in one write.
    const c = await RawConn.open(s.port);
    try {
      await c.write(`${head(2)}a1${head(2)}a2${other(2)}a3${head(2)}a4${head(2)}a5POST /ec`);
      for (const text of ["a1", "a2", "a3", "a4", "a5"]) {
        assert.deepEqual(json((await c.read())!), { text });
      }
      const r = await c.read(10_000);
      assert.equal(r?.status, 408);
      assert.ok(await c.closed(10_000));
    } finally {
      c.close();
    }
    // The body of a request whose head came first, then its last bytes with the next head's first.
    await refusedAfterOne(s.port, async (c) => {
      await c.write(`${head(10)}01234`);
      await sleep(50);
      await c.write(`56789${head(2).slice(0, 25)}`);
      assert.deepEqual(json((await c.read())!), { text: "0123456789" });
    });
    // Only the empty line's first CR.
    await refusedAfterOne(s.port, (c) => c.write("\r"));
  } finally {
    await s.close();
  }
});

Deno.test("a keep-alive connection that sends nothing, or only empty lines, is closed at idle_timeout", async () => {
  // The head deadline is far off: only the idle one can close these.
  const s = await setup({ headerTimeoutMs: 60_000, idleTimeoutMs: 400 });
  try {
    for (const noise of ["", "\r\n", "\r\n\r\n\r\n"]) {
      const c = await RawConn.open(s.port);
      try {
        await c.write(`${head(2)}ok`);
        assert.deepEqual(json((await c.read())!), { text: "ok" });
        for (let i = 0; i < 3 && noise !== ""; i++) {
          await sleep(100);
          await c.write(noise);
        }
        assert.ok(await c.closed(10_000), `closed (${JSON.stringify(noise)})`);
      } finally {
        c.close();
      }
    }
  } finally {
    await s.close();
  }
});

Deno.test("an idle keep-alive connection does not hold its last answer", async () => {
  // The serving loop waits for the next head in a suspended frame, which keeps whatever its
  // registers last held: the answer just sent, until the next request, long enough on an idle
  // connection to reach the old generation.
  const { held, open } = await runGcProbe<{ held: boolean[]; open: boolean }>(
    new URL("./idle_answer_probe.ts", import.meta.url),
    { net: true },
  );
  assert.equal(open, true, "the connection should still be open (idle, kept alive)");
  assert.deepEqual(held, [false, false, false]);
});
