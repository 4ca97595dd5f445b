/**
 * The client over a Unix socket (`unixPath`, how the compose agent reaches Docker's API): the
 * same keep-alive, framing refusals, bounds and error kinds as over TCP, against a raw agent
 * listening on a real Unix socket.
 */
import assert from "node:assert/strict";
import { createOriginClient, HttpClientError } from "../../../../core/http/client/mod.ts";
import type { ClientRequest, ClientResponse } from "../../../../core/http/client/mod.ts";
import { ok, type RawAgent, type Reply, startRawAgent } from "../../../support/raw_agent.ts";
import type { Arrival } from "../../../support/raw_agent.ts";

const enc = new TextEncoder();

function get(target = "/", timeoutMs = 5000): ClientRequest {
  return { method: "GET", target, headers: [["x-a", "1"]], body: new Uint8Array(0), timeoutMs };
}

async function text(res: ClientResponse): Promise<string> {
  return res.body === null ? "" : await new Response(res.body).text();
}

function isKind(kind: HttpClientError["kind"]) {
  return (e: unknown) => e instanceof HttpClientError && e.kind === kind;
}

/** A raw agent on a Unix socket in a folder of its own, and a client connected to it. */
async function unixAgent(reply: (a: Arrival) => Reply) {
  const dir = await Deno.makeTempDir({ prefix: "iatp-unix-client-" });
  const path = `${dir}/agent.sock`;
  const agent: RawAgent = startRawAgent(reply, { unixPath: path });
  const client = createOriginClient("http://docker", { unixPath: path });
  return {
    agent,
    client,
    path,
    async [Symbol.asyncDispose]() {
      client.close();
      agent.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("over a Unix socket: keep-alive, the origin's Host, each request as sent", async () => {
  await using u = await unixAgent((a) => ok(`r${a.n}`));
  for (let i = 0; i < 3; i++) {
    assert.equal(await text(await u.client.send(get(`/v1/x${i}`))), `r${i}`);
  }
  assert.equal(u.agent.connections, 1, "one connection carries the three requests");
  assert.deepEqual(u.agent.arrivals.map((a) => a.line), [
    "GET /v1/x0 HTTP/1.1",
    "GET /v1/x1 HTTP/1.1",
    "GET /v1/x2 HTTP/1.1",
  ]);
  assert.deepEqual(u.agent.arrivals[0].headers, ["host: docker", "content-length: 0", "x-a: 1"]);
  const posted = await u.client.send({ ...get("/p"), method: "POST", body: enc.encode("{}") });
  assert.equal(await text(posted), "r3");
  assert.equal(u.agent.arrivals[3].body, "{}");
});

Deno.test("over a Unix socket: chunked and close-delimited bodies arrive whole", async () => {
  const big = "x".repeat(300 * 1024); // over the size read whole: streamed
  await using u = await unixAgent((a) =>
    a.n === 0
      ? {
        pieces: [
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
          "3\r\nabc\r\n",
          "0\r\n\r\n",
        ],
      }
      : a.n === 1
      ? ok(big)
      : { bytes: "HTTP/1.1 200 OK\r\n\r\nuntil the close", close: true }
  );
  assert.equal(await text(await u.client.send(get())), "abc");
  assert.equal(await text(await u.client.send(get())), big);
  assert.equal(await text(await u.client.send(get())), "until the close");
});

Deno.test("over a Unix socket: a bad head or chunk is a protocol error, never reused", async () => {
  const bad: Reply[] = [
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n",
    "HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\ncontent-length: 2\n\nhi",
  ];
  for (const reply of bad) {
    await using u = await unixAgent((a) => (a.n === 1 ? reply : ok(`r${a.n}`)));
    assert.equal(await text(await u.client.send(get())), "r0");
    await assert.rejects(u.client.send(get()), isKind("protocol"), String(reply));
    assert.equal(await text(await u.client.send(get())), "r2");
    assert.equal(u.agent.connections, 2, "a new connection after the bad answer");
  }
  await using chunk = await unixAgent(() => ({
    pieces: ["HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", "zz\r\nabc\r\n"],
  }));
  const res = await chunk.client.send(get());
  await assert.rejects(text(res), isKind("protocol"));
});

Deno.test("over a Unix socket: an oversized head, a timeout, a peer closing, no socket", async () => {
  {
    await using u = await unixAgent(() => "HTTP/1.1 200 OK\r\n" + "x-pad: y\r\n".repeat(10_000));
    await assert.rejects(u.client.send(get()), /too large/);
  }
  {
    // A whole head over the bound, arriving in one piece, is refused as well (not only one
    // still unfinished at the bound).
    const big = "HTTP/1.1 200 OK\r\nx-pad: " + "y".repeat(70_000) +
      "\r\ncontent-length: 2\r\n\r\nok";
    await using u = await unixAgent(() => big);
    await assert.rejects(u.client.send(get()), /too large/);
  }
  {
    await using u = await unixAgent(() => "hang");
    await assert.rejects(u.client.send(get("/", 200)), isKind("timeout"));
  }
  {
    // Closing after reading the request: the caller's failure, not sent again.
    await using u = await unixAgent((a) => (a.n === 0 ? "close" : ok(`r${a.n}`)));
    await assert.rejects(u.client.send({ ...get(), method: "POST" }), isKind("connect"));
    assert.equal(u.agent.arrivals.length, 1, "nothing sent twice");
    assert.equal(await text(await u.client.send(get())), "r1", "a fresh connection then");
  }
  {
    // A body cut short by the peer closing.
    await using u = await unixAgent(() => ({
      bytes: "HTTP/1.1 200 OK\r\ncontent-length: 400000\r\n\r\nonly this",
      close: true,
    }));
    const res = await u.client.send(get());
    await assert.rejects(text(res), isKind("protocol"));
  }
  const dir = await Deno.makeTempDir({ prefix: "iatp-unix-client-" });
  const none = createOriginClient("http://docker", { unixPath: `${dir}/none.sock` });
  try {
    await assert.rejects(none.send(get()), isKind("connect"));
  } finally {
    none.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Unix socket carries only http:", () => {
  assert.throws(
    () => createOriginClient("https://docker", { unixPath: "/tmp/x.sock" }),
    /only http:/,
  );
});
