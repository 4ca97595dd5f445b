// A refused connection's linger timer (core/async's): it closes a client that never leaves, and is released.
import assert from "node:assert/strict";
import { pendingTimers } from "../../../../core/async/mod.ts";
import { HttpError } from "../../../../core/errors/mod.ts";
import { refuseConnection } from "../../../../core/http/h1/refuse.ts";
import { waitFor } from "../../../helpers.ts";
import { json, RawConn } from "../../../support/raw_http.ts";

const envelope = (err: HttpError) =>
  Response.json({ error: err.message, request_id: "r-1" }, { status: err.status });

/** A listener whose every connection is refused. */
function refusingListener(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) refuseConnection(conn, envelope);
  })().catch(() => {});
  return { port: listener.addr.port, close: () => listener.close() };
}

Deno.test("a refused client that stays connected is closed when the linger runs out", async () => {
  const before = pendingTimers();
  const server = refusingListener();
  const c = await RawConn.open(server.port);
  try {
    await c.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const res = await c.read();
    assert.equal(res?.status, 503);
    assert.equal(json(res!).error, "too many connections");
    assert.equal(pendingTimers(), before + 1, "the linger waits on core/async's timers");
    // The client neither closes nor sends more: only the linger timer ends the connection.
    assert.ok(await c.closed(10_000), "the refused connection was closed");
    await waitFor(() => pendingTimers() === before, 10_000, "the linger timer to be gone");
  } finally {
    c.close();
    server.close();
  }
});

Deno.test("a refused client that leaves releases the linger timer", async () => {
  const before = pendingTimers();
  const server = refusingListener();
  try {
    const c = await RawConn.open(server.port);
    await c.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert.equal((await c.read())?.status, 503);
    assert.equal(pendingTimers(), before + 1);
    c.close();
    await waitFor(() => pendingTimers() === before, 10_000, "the linger timer to be released");
  } finally {
    server.close();
  }
});
