/**
 * A subscription against relays that misbehave on real sockets: one that never answers the
 * head, one that answers and then stalls (both: timed out, reconnected with backoff, resumed
 * from the last event handled), and a subscription closed while it waits for the head or for
 * the body (its connection closed at once, no reconnect), and a live stream that outlasts the
 * head's deadline (never cut while events flow).
 */
import assert from "node:assert/strict";
import { RelayClient, type SubscriptionStatus } from "../../../core/relay/client/mod.ts";
import { chunk, startStallServer, STREAM_HEAD } from "../../support/stall_server.ts";
import { waitFor } from "../../helpers.ts";
import { after, sleep, type Timer } from "../../../core/async/mod.ts";
import { quietLog } from "./relay_helpers.ts";

const fast = { backoffMinMs: 20, backoffMaxMs: 100, log: quietLog };

/** One SSE message frame of the relay, as a chunk. */
function frame(id: string, n: number): string {
  const data = JSON.stringify({ id: `u${n}`, seq: n, ts: 1, topic: "t", payload: { n } });
  return chunk(`id: ${id}\nevent: message\ndata: ${data}\n\n`);
}

/**
 * Resolves once `closed` does, well inside the subscription's 60 s idle timeout (whose deadline
 * would close the connection too): only the cancelling can have closed it that soon.
 */
async function closedAtOnce(closed: Promise<void>): Promise<void> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = after(5_000, () => reject(new Error("connection not closed by the cancel")));
  });
  try {
    await Promise.race([closed, late]);
  } finally {
    timer?.cancel();
  }
}

function header(lines: string[], name: string): string | undefined {
  const line = lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

Deno.test("a relay that never answers the head: the subscription times out and reconnects", async () => {
  const server = startStallServer(() => {});
  const client = new RelayClient({ url: server.url, ...fast, idleTimeoutMs: 150 });
  const statuses: Array<[SubscriptionStatus, string | undefined]> = [];
  const sub = client.subscribe(["t"], () => {}, { onStatus: (s, e) => statuses.push([s, e]) });
  try {
    await waitFor(() => server.connections.length >= 2, 5_000, "a second connection");
    await server.connections[0].closed; // the timed-out one was closed
    assert.deepEqual(statuses[0]?.[0], "disconnected");
    assert.match(statuses[0]?.[1] ?? "", /timed out/);
    assert.equal(server.connections[0].lines[0], "GET /subscribe?topic=t HTTP/1.1");
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
});

Deno.test("a relay that answers and then stalls: the subscription resumes after the last event", async () => {
  const server = startStallServer(async (c) => {
    if (server.connections.length === 1) {
      await c.write(STREAM_HEAD + frame("e-1", 1) + frame("e-2", 2)); // then silence
    } else await c.write(STREAM_HEAD + frame("e-3", 3));
  });
  const client = new RelayClient({ url: server.url, ...fast, idleTimeoutMs: 200 });
  const got: number[] = [];
  const sub = client.subscribe(["t"], (e) => void got.push(e.payload.n as number));
  try {
    await waitFor(() => got.length === 3, 5_000, "three events over two connections");
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(header(server.connections[0].lines, "last-event-id"), undefined);
    assert.equal(header(server.connections[1].lines, "last-event-id"), "e-2");
    await server.connections[0].closed; // the stalled connection was closed
    assert.equal(sub.lastId(), "e-3");
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
});

Deno.test("closing a subscription waiting for the head closes its connection, no reconnect", async () => {
  const server = startStallServer(() => {});
  const client = new RelayClient({ url: server.url, ...fast, idleTimeoutMs: 60_000 });
  const sub = client.subscribe(["t"], () => {});
  try {
    await waitFor(() => server.connections.length === 1, 5_000, "the connection");
    sub.close();
    await closedAtOnce(server.connections[0].closed);
    await sleep(200); // several backoffs' worth
    assert.equal(server.connections.length, 1);
  } finally {
    await client.close();
    server.close();
  }
});

Deno.test("closing a subscription reading the body closes its connection, no reconnect", async () => {
  const server = startStallServer(async (c) => {
    await c.write(STREAM_HEAD + frame("e-1", 1));
  });
  const client = new RelayClient({ url: server.url, ...fast, idleTimeoutMs: 60_000 });
  const got: number[] = [];
  const sub = client.subscribe(["t"], (e) => void got.push(e.payload.n as number));
  try {
    await waitFor(() => got.length === 1, 5_000, "the first event");
    await client.close(); // closes every subscription
    await closedAtOnce(server.connections[0].closed);
    await sleep(200);
    assert.equal(server.connections.length, 1);
    assert.equal(sub.lastId(), "e-1");
  } finally {
    sub.close();
    server.close();
  }
});

Deno.test("a live stream outlasts the head's deadline: one connection, no reconnect", async () => {
  // Events every 50 ms for well over the 200 ms the head had: the stream is bounded by the
  // time between reads alone, never cut while events flow.
  const server = startStallServer(async (c) => {
    await c.write(STREAM_HEAD);
    for (let n = 1; n <= 12 && !c.isClosed; n++) {
      await c.write(frame(`e-${n}`, n));
      await sleep(50);
    }
  });
  const client = new RelayClient({ url: server.url, ...fast, idleTimeoutMs: 200 });
  const got: number[] = [];
  const sub = client.subscribe(["t"], (e) => void got.push(e.payload.n as number));
  try {
    await waitFor(() => got.length === 12, 5_000, "twelve events");
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(server.connections.length, 1);
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
});

Deno.test("a stream that goes silent is reported as an idle timeout, not as a stream that ended", async () => {
  const server = startStallServer(async (c) => {
    if (server.connections.length === 1) await c.write(STREAM_HEAD + frame("e-1", 1));
  });
  const client = new RelayClient({ url: server.url, ...fast, idleTimeoutMs: 150 });
  const statuses: Array<[SubscriptionStatus, string | undefined]> = [];
  const sub = client.subscribe(["t"], () => {}, { onStatus: (s, e) => statuses.push([s, e]) });
  try {
    await waitFor(() => server.connections.length >= 2, 5_000, "a second connection");
    assert.deepEqual(statuses[0], ["connected", undefined]);
    assert.equal(statuses[1]?.[0], "disconnected");
    assert.match(statuses[1]?.[1] ?? "", /idle timeout/);
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
});

Deno.test("a relay that never answers a publish: close waits flushTimeoutMs, then tells the event it was not sent", async () => {
  const server = startStallServer(() => {});
  // A request deadline well past the test's bound: only the flush bound can end the close.
  const client = new RelayClient({
    url: server.url,
    ...fast,
    requestTimeoutMs: 60_000,
    flushTimeoutMs: 200,
  });
  let unsent = 0;
  try {
    client.publish("t", { n: 1 }, () => unsent++);
    await waitFor(() => server.connections.length >= 1, 5_000, "the publish");
    // The default flush bound (5 s) and the request deadline (60 s) are both past this wait.
    await closedAtOnce(client.close().then(() => {}));
    assert.equal(unsent, 1);
  } finally {
    await client.close();
    server.close();
  }
});
