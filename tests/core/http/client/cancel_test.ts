/**
 * The client's deadline on the answer head alone and its cancelling, on real sockets: a body
 * that streams past the head's deadline, a head that never comes, a small body read whole that
 * never comes, and an abort while the head
 * is awaited, while the body streams, and before anything was sent.
 */
import assert from "node:assert/strict";
import { HttpClientError } from "../../../../core/http/client/mod.ts";
import { type ClientRequest, OriginPool } from "../../../../core/http/client/pool.ts";
import { chunk, startStallServer, STREAM_HEAD } from "../../../support/stall_server.ts";
import { sleep } from "../../../../core/async/mod.ts";

function get(extra: Partial<ClientRequest> = {}): ClientRequest {
  return {
    method: "GET",
    target: "/s",
    headers: [],
    body: new Uint8Array(0),
    timeoutMs: 5000,
    ...extra,
  };
}

function isKind(kind: HttpClientError["kind"], message?: RegExp) {
  return (e: unknown) =>
    e instanceof HttpClientError && e.kind === kind && (!message || message.test(e.message));
}

const dec = new TextDecoder();

Deno.test("a deadline on the head alone: the body streams on past it", async () => {
  const server = startStallServer(async (c) => {
    await c.write(STREAM_HEAD + chunk("one;"));
    await sleep(400); // well past the 150 ms deadline
    await c.write(chunk("two;") + "0\r\n\r\n");
  });
  const pool = new OriginPool(server.origin);
  try {
    const res = await pool.request(get({ timeoutMs: 150, deadline: "head" }));
    assert.equal(res.status, 200);
    assert.ok(res.body instanceof ReadableStream);
    let text = "";
    for await (const piece of res.body) text += dec.decode(piece);
    assert.equal(text, "one;two;");
  } finally {
    pool.close();
    server.close();
  }
});

Deno.test("a deadline on the head alone: a head that never comes times out", async () => {
  const server = startStallServer(() => {}); // reads the request, never answers
  const pool = new OriginPool(server.origin);
  try {
    await assert.rejects(
      pool.request(get({ timeoutMs: 150, deadline: "head" })),
      isKind("timeout"),
    );
    await server.connections[0].closed; // the client closed its socket
  } finally {
    pool.close();
    server.close();
  }
});

Deno.test("a deadline on the head alone: a small body the answer waits for still has it", async () => {
  // Read whole before the answer resolves, so no reader could bound it through the signal.
  const server = startStallServer(async (c) => {
    await c.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n");
    await c.write("part of it"); // then silence
  });
  const pool = new OriginPool(server.origin);
  try {
    await assert.rejects(
      pool.request(get({ timeoutMs: 150, deadline: "head" })),
      isKind("timeout"),
    );
    await server.connections[0].closed;
  } finally {
    pool.close();
    server.close();
  }
});

Deno.test("the whole exchange's deadline (the default) still ends a body that stalls", async () => {
  const server = startStallServer(async (c) => {
    await c.write(STREAM_HEAD + chunk("one;"));
  });
  const pool = new OriginPool(server.origin);
  try {
    const res = await pool.request(get({ timeoutMs: 200 }));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    assert.equal(dec.decode((await reader.read()).value), "one;");
    await assert.rejects(reader.read(), isKind("timeout"));
    await server.connections[0].closed;
  } finally {
    pool.close();
    server.close();
  }
});

Deno.test("aborting while the head is awaited rejects at once and closes the connection", async () => {
  const server = startStallServer(() => {});
  const pool = new OriginPool(server.origin);
  const ac = new AbortController();
  try {
    const pending = pool.request(get({ timeoutMs: 60_000, deadline: "head", signal: ac.signal }));
    while (server.connections.length === 0) await sleep(5);
    ac.abort(new Error("stopping"));
    await assert.rejects(pending, isKind("aborted", /stopping/));
    await server.connections[0].closed;
  } finally {
    pool.close();
    server.close();
  }
});

Deno.test("aborting while the body streams errors the stream and closes the connection", async () => {
  const server = startStallServer(async (c) => {
    await c.write(STREAM_HEAD + chunk("one;")); // then nothing more
  });
  const pool = new OriginPool(server.origin);
  const ac = new AbortController();
  try {
    const res = await pool.request(get({ timeoutMs: 60_000, deadline: "head", signal: ac.signal }));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    assert.equal(dec.decode((await reader.read()).value), "one;");
    const next = reader.read(); // waits on the socket
    ac.abort();
    await assert.rejects(next, isKind("aborted"));
    await server.connections[0].closed;
  } finally {
    pool.close();
    server.close();
  }
});

Deno.test("a request whose signal is already aborted sends nothing", async () => {
  const server = startStallServer(() => {});
  const pool = new OriginPool(server.origin);
  try {
    await assert.rejects(pool.request(get({ signal: AbortSignal.abort() })), isKind("aborted"));
    await sleep(50);
    assert.equal(server.connections.length, 0);
  } finally {
    pool.close();
    server.close();
  }
});
