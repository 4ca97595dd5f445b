/**
 * The dashboard's bounded JSON reads of other services, on real sockets: the answer parsed, a
 * refusal's status, the byte cap whether the length is declared or not, the deadline on a body
 * that stalls, and never a throw.
 */
import assert from "node:assert/strict";
import { fetchJson } from "../../../core/dashboard/fetch_json.ts";
import { type StallConnection, startStallServer } from "../../support/stall_server.ts";

const LIMITS = { timeoutMs: 2_000, maxBytes: 64 };

/** A server answering each connection's request with `answer(c)`. */
async function withServer(
  answer: (c: StallConnection) => Promise<void> | void,
  run: (url: string, seen: StallConnection[]) => Promise<void>,
): Promise<void> {
  const server = startStallServer((c) => void answer(c));
  try {
    await run(server.url, server.connections);
  } finally {
    server.close();
  }
}

Deno.test("dashboard fetchJson: a JSON answer is parsed; the request asks for JSON with a GET of the path and query", async () => {
  const body = '{"status":"healthy"}';
  await withServer(
    (c) =>
      c.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ),
    async (url, seen) => {
      const a = await fetchJson(`${url}/base/health?x=1`, LIMITS);
      assert.deepEqual(a, { ok: true, status: 200, body: { status: "healthy" } });
      assert.equal(seen[0].lines[0], "GET /base/health?x=1 HTTP/1.1");
      assert.ok(seen[0].lines.some((l) => /^accept: application\/json$/i.test(l)));
    },
  );
});

Deno.test("dashboard fetchJson: a status not listed is reported with its number; a listed one is parsed", async () => {
  await withServer(
    (c) => c.write(`HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}`),
    async (url) => {
      assert.deepEqual(await fetchJson(`${url}/health`, LIMITS), {
        ok: false,
        status: 503,
        error: "answered 503",
      });
      assert.deepEqual(await fetchJson(`${url}/health`, { ...LIMITS, okStatuses: [200, 503] }), {
        ok: true,
        status: 503,
        body: {},
      });
    },
  );
});

Deno.test("dashboard fetchJson: an answer over the byte cap is refused, declared or chunked", async () => {
  const big = JSON.stringify({ pad: "x".repeat(100) });
  await withServer(
    (c) => c.write(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n${big}`),
    async (url) => {
      const a = await fetchJson(`${url}/x`, LIMITS);
      assert.equal(a.ok, false);
      assert.match((a as { error: string }).error, /over 64 bytes/);
    },
  );
  await withServer(
    async (c) => {
      await c.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n`);
      // Chunks past the cap, then never the last chunk: the read stops at the cap.
      for (let i = 0; i < 4; i++) await c.write(`20\r\n${"x".repeat(32)}\r\n`);
    },
    async (url, seen) => {
      const a = await fetchJson(`${url}/x`, LIMITS);
      assert.equal(a.ok, false);
      assert.match((a as { error: string }).error, /over 64 bytes/);
      await seen[0].closed; // the connection is let go, not left open
    },
  );
});

Deno.test("dashboard fetchJson: a body that stalls ends at the deadline; a head that never comes too", async () => {
  await withServer(
    (c) => c.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{"`),
    async (url, seen) => {
      const a = await fetchJson(`${url}/x`, { ...LIMITS, timeoutMs: 200 });
      assert.equal(a.ok, false);
      await seen[0].closed;
    },
  );
  await withServer(() => {}, async (url, seen) => {
    const a = await fetchJson(`${url}/x`, { ...LIMITS, timeoutMs: 200 });
    assert.equal(a.ok, false);
    assert.match((a as { error: string }).error, /time/i);
    await seen[0].closed;
  });
});

Deno.test("dashboard fetchJson: not JSON, no answer at all, or a bad URL is an answer, never a throw", async () => {
  await withServer(
    (c) => c.write(`HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello`),
    async (url) => {
      assert.equal((await fetchJson(`${url}/x`, LIMITS)).ok, false);
    },
  );
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  assert.equal((await fetchJson(`http://127.0.0.1:${port}/x`, LIMITS)).ok, false);
  assert.equal((await fetchJson("not a url", LIMITS)).ok, false);
});

Deno.test("dashboard fetchJson: a body that is not JSON is refused without quoting it", async () => {
  const body = "<html>\u202eSECRET-ish page";
  await withServer(
    (c) =>
      c.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${
          new TextEncoder().encode(body).length
        }\r\n\r\n${body}`,
      ),
    async (url) => {
      assert.deepEqual(await fetchJson(`${url}/health`, LIMITS), {
        ok: false,
        status: 200,
        error: "answered something other than JSON",
      });
    },
  );
});
