/**
 * How a subscription backs off and reports a run of failed connections, on real sockets: a 200
 * that is not an event stream (a wrong URL, a proxy's page) is a failure like any other (backed
 * off up to the maximum, its content type said), a 200 event stream that ends (or overflows)
 * before delivering an event does not reset the backoff, and each failure of a run is reported with its own reason
 * and how many came in a row, so `/health` shows what fails now.
 */
import assert from "node:assert/strict";
import { RelayClient, type SubscriptionStatus } from "../../../core/relay/client/mod.ts";
import {
  chunk,
  type StallServer,
  startStallServer,
  STREAM_HEAD,
} from "../../support/stall_server.ts";
import { waitFor } from "../../helpers.ts";
import { quietLog } from "./relay_helpers.ts";
import { sleep } from "../../../core/async/mod.ts";

type Report = [SubscriptionStatus, string | undefined, number | undefined];

/** Waits for the first connection, then a second, and checks how many connections were made. */
async function atMostInASecond(
  server: { connections: unknown[] },
  most: number,
  fault: string,
): Promise<void> {
  await waitFor(() => server.connections.length >= 1, 5_000, "a first connection");
  await sleep(1_000);
  assert.ok(
    server.connections.length <= most,
    `${server.connections.length} connections in a second: ${fault}`,
  );
}

/** Subscribes to `server` with `backoffMaxMs` (minimum 20 ms), runs `body`, cleans up. */
async function subscribed(
  server: StallServer,
  backoffMaxMs: number,
  body: (reports: Report[]) => Promise<void>,
  token?: string,
): Promise<void> {
  const client = new RelayClient({
    url: server.url,
    token,
    backoffMinMs: 20,
    backoffMaxMs,
    idleTimeoutMs: 5_000,
    log: quietLog,
  });
  const reports: Report[] = [];
  const sub = client.subscribe(["t"], () => {}, {
    onStatus: (s, err, failures) => reports.push([s, err, failures]),
  });
  try {
    await body(reports);
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
}

Deno.test("a 200 that is not an event stream backs off to the maximum and says why", async () => {
  const server = startStallServer(async (c) => {
    await c.write(
      "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 19\r\n\r\n<html>login</html>\n",
    );
  });
  // Delays 10-20, 20-40, 40-80, 80-160, 160-320, 320-640 ms...: at most 6 connections in the
  // first second; at the minimum backoff for ever (the fault), 50 or more.
  await subscribed(server, 10_000, async (reports) => {
    await atMostInASecond(server, 7, "the backoff did not grow");
    assert.ok(reports.length >= 2, "each failed connection reported");
    assert.ok(reports.every(([s]) => s === "disconnected"), "never reported connected");
    const [, err, failures] = reports.at(-1)!;
    assert.match(err ?? "", /200.*text\/html.*not an event stream/);
    assert.doesNotMatch(err ?? "", /login/, "the page's body is not repeated");
    assert.equal(failures, reports.length, "the failures in a row, counted");
  });
});

Deno.test("a 200 event stream that ends before any byte does not reset the backoff", async () => {
  const server = startStallServer(async (c) => {
    await c.write(
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
        "0\r\n\r\n",
    );
  });
  await subscribed(server, 10_000, async (reports) => {
    await atMostInASecond(server, 7, "the backoff did not grow");
    const last = reports.filter(([s]) => s === "disconnected").at(-1);
    assert.match(last?.[1] ?? "", /stream ended/);
    assert.ok((last?.[2] ?? 0) >= 2, "the empty streams counted as failures in a row");
  });
});

Deno.test("a stream that sends bytes but no event before it ends does not reset the backoff", async () => {
  // A relay (or something posing as one) that answers `retry:` and an overflow at once: the
  // overflow's "reconnect now" holds only for a connection that delivered events.
  const server = startStallServer(async (c) => {
    await c.write(
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
        chunk("retry: 20\n\n") + chunk("event: overflow\ndata: {}\n\n") + "0\r\n\r\n",
    );
  });
  await subscribed(server, 10_000, async (reports) => {
    await atMostInASecond(server, 7, "the backoff did not grow");
    const last = reports.filter(([s]) => s === "disconnected").at(-1);
    assert.equal(last?.[1], "overflow");
    assert.ok((last?.[2] ?? 0) >= 2, "counted as failures in a row");
  });
});

Deno.test("a run of failures reports the latest reason and its count, then connected resets it", async () => {
  const server = startStallServer(async (c) => {
    const n = server.connections.length;
    if (n <= 3) {
      const body = `{"error":"refusal number ${n}"}`;
      await c.write(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n` +
          `content-length: ${body.length}\r\n\r\n${body}`,
      );
    } else {
      await c.write(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
          "c\r\nretry: 1000\n\r\n",
      ); // then open, silent
    }
  });
  await subscribed(server, 100, async (reports) => {
    await waitFor(() => reports.some(([s]) => s === "connected"), 5_000, "connected at last");
    const down = reports.filter(([s]) => s === "disconnected");
    assert.deepEqual(down.map(([, e, n]) => [e?.match(/refusal number \d/)?.[0], n]), [
      ["refusal number 1", 1],
      ["refusal number 2", 2],
      ["refusal number 3", 3],
    ]);
    assert.deepEqual(reports.at(-1), ["connected", undefined, 0]);
  });
});

Deno.test("a refusal whose body echoes the token is reported without it", async () => {
  const server = startStallServer(async (c) => {
    const auth = c.lines.find((l) => l.toLowerCase().startsWith("authorization:")) ?? "";
    const body = `bad gateway; you sent ${auth}`;
    await c.write(
      `HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\n` +
        `content-length: ${body.length}\r\n\r\n${body}`,
    );
  });
  await subscribed(server, 100, async (reports) => {
    await waitFor(() => reports.length >= 2, 5_000, "two refusals");
    for (const [, err] of reports) {
      assert.match(err ?? "", /502: bad gateway; you sent authorization: Bearer \[token\]/i);
      assert.doesNotMatch(err ?? "", /s3cret-tok/);
    }
  }, "s3cret-tok");
});

Deno.test("an idle stream that stayed open as long as the maximum backoff is healthy: the count restarts", async () => {
  // A relay with nothing to send: heartbeats only, each connection cut after 300 ms (a proxy's
  // limit, a restart). Open longer than the maximum backoff (100 ms), each was healthy: every
  // disconnect is the first of its run, never a growing count of failures.
  const server = startStallServer(async (c) => {
    await c.write(STREAM_HEAD + chunk("retry: 20\n\n"));
    for (let i = 0; i < 6; i++) {
      await sleep(50);
      await c.write(chunk(": heartbeat\n\n"));
    }
    await c.write("0\r\n\r\n");
  });
  await subscribed(server, 100, async (reports) => {
    await waitFor(
      () => reports.filter(([s]) => s === "disconnected").length >= 3,
      10_000,
      "three idle connections ended",
    );
    const down = reports.filter(([s]) => s === "disconnected");
    assert.deepEqual(down.map(([, e, n]) => [e, n]), down.map(() => ["stream ended", 1]));
  });
});

Deno.test("a stream that repeats the same event, then overflows, is not a reason to reconnect at once", async () => {
  // A relay (or something posing as one) that answers every connection with the event it
  // resumed after, then `overflow`: the position never moves, so nothing was caught up. (The
  // first connection moved it, from nothing to that event: one reconnection at once.)
  const server = startStallServer(async (c) => {
    await c.write(
      STREAM_HEAD + chunk("id: k3f9x2m1ab0c-1\nevent: message\ndata: not json\n\n") +
        chunk('event: reset\ndata: {"resume":"k3f9x2m1ab0c-1"}\n\n') +
        chunk("event: overflow\ndata: {}\n\n") + "0\r\n\r\n",
    );
  });
  await subscribed(server, 10_000, async (reports) => {
    await atMostInASecond(server, 8, "reconnected at once for ever");
    const last = reports.filter(([s]) => s === "disconnected").at(-1);
    assert.equal(last?.[1], "overflow");
  });
});
