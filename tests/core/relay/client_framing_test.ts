/**
 * A subscription against relays (or proxies in front of them) on real sockets that frame the
 * event stream otherwise than the relay does, or stall where the head-only deadline does not
 * reach: a 200 whose Content-Length body never comes, a refusal whose body never comes (both:
 * timed out, reported, reconnected), a whole event stream with a Content-Length, a
 * close-delimited one, one whose chunks split every byte (UTF-8 included), bad UTF-8, a relay
 * that closes in the middle of an event (its events delivered, resumed after the last one).
 */
import assert from "node:assert/strict";
import {
  RelayClient,
  type RelayEvent,
  type Subscription,
  type SubscriptionStatus,
} from "../../../core/relay/client/mod.ts";
import {
  chunk,
  type StallConnection,
  type StallServer,
  startStallServer,
  STREAM_HEAD,
} from "../../support/stall_server.ts";
import { waitFor } from "../../helpers.ts";
import { quietLog } from "./relay_helpers.ts";

const fast = { backoffMinMs: 20, backoffMaxMs: 100, log: quietLog };
const enc = new TextEncoder();

/** One SSE message frame of the relay (text, not chunked). */
function frameText(id: string, n: number, extra: Record<string, unknown> = {}): string {
  const data = JSON.stringify({ id: `u${n}`, seq: n, ts: 1, topic: "t", payload: { n, ...extra } });
  return `id: ${id}\nevent: message\ndata: ${data}\n\n`;
}

/** What a test's subscription saw of its status: each change with its error. */
type Statuses = Array<[SubscriptionStatus, string | undefined]>;

/**
 * Subscribes a client of `server` (fast backoff plus `opts`) to topic `t`, handing each event to
 * `onEvent`, runs `body` with the statuses it reports and the subscription, then closes the
 * subscription, the client and the server, whatever `body` did.
 */
async function subscribed(
  server: StallServer,
  opts: { idleTimeoutMs?: number; token?: string },
  onEvent: (e: RelayEvent) => void,
  body: (statuses: Statuses, sub: Subscription) => Promise<void>,
): Promise<void> {
  const client = new RelayClient({ url: server.url, ...fast, ...opts });
  const statuses: Statuses = [];
  const sub = client.subscribe(["t"], onEvent, { onStatus: (s, e) => statuses.push([s, e]) });
  try {
    await body(statuses, sub);
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
}

function header(lines: string[], name: string): string | undefined {
  const line = lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

Deno.test("a 200 whose Content-Length body never comes: timed out, reported, reconnected", async () => {
  const server = startStallServer(async (c) => {
    await c.write(
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 100\r\n\r\n",
    ); // then silence
  });
  await subscribed(server, { idleTimeoutMs: 150 }, () => {}, async (statuses) => {
    await waitFor(() => server.connections.length >= 2, 5_000, "a second connection");
    await server.connections[0].closed;
    assert.equal(statuses[0]?.[0], "disconnected");
  });
});

Deno.test("a refusal whose body never comes: timed out, reported with its status, reconnected", async () => {
  const server = startStallServer(async (c) => {
    await c.write(
      "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n" +
        "transfer-encoding: chunked\r\n\r\n",
    ); // then silence
  });
  await subscribed(server, { idleTimeoutMs: 150 }, () => {}, async (statuses) => {
    await waitFor(() => server.connections.length >= 2, 5_000, "a second connection");
    await server.connections[0].closed;
    assert.equal(statuses[0]?.[0], "disconnected");
    assert.match(statuses[0]?.[1] ?? "", /401/);
  });
});

Deno.test("a refusal's body is in the error, its token never", async () => {
  const server = startStallServer(async (c) => {
    const body = '{"error":"forbidden: topic t"}';
    await c.write(
      `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n${body}`,
    );
  });
  await subscribed(server, { token: "s3cret-tok" }, () => {}, async (statuses) => {
    await waitFor(() => statuses.length >= 1, 5_000, "a status");
    assert.equal(statuses[0][0], "disconnected");
    assert.match(statuses[0][1] ?? "", /403.*forbidden: topic t/);
    assert.doesNotMatch(statuses[0][1] ?? "", /s3cret/);
    assert.equal(header(server.connections[0].lines, "authorization"), "Bearer s3cret-tok");
  });
});

/**
 * Serves events e-1 and e-2 on the first connection and e-3 on the next, each as `send` frames
 * the body, and checks that all three arrive and the second connection resumes after e-2.
 */
async function deliveredThenResumed(send: (c: StallConnection, body: string) => Promise<void>) {
  const server = startStallServer(async (c) => {
    const n = server.connections.length;
    await send(c, n === 1 ? frameText("e-1", 1) + frameText("e-2", 2) : frameText("e-3", 3));
  });
  const got: number[] = [];
  await subscribed(
    server,
    { idleTimeoutMs: 5_000 },
    (e) => void got.push(e.payload.n as number),
    async () => {
      await waitFor(() => got.length >= 3, 5_000, "three events over two connections");
      assert.deepEqual(got.slice(0, 3), [1, 2, 3]);
      assert.equal(header(server.connections[1].lines, "last-event-id"), "e-2");
    },
  );
}

Deno.test("a whole event stream with a Content-Length: its events delivered, then resumed", async () => {
  await deliveredThenResumed(async (c, body) => {
    await c.write(
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" +
        `content-length: ${enc.encode(body).length}\r\n\r\n${body}`,
    );
  });
});

Deno.test("a close-delimited event stream: its events delivered, then resumed", async () => {
  await deliveredThenResumed(async (c, body) => {
    await c.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + body);
    c.end();
  });
});

Deno.test("chunks that split every byte (UTF-8 included), then bad UTF-8: events intact", async () => {
  const server = startStallServer(async (c) => {
    if (server.connections.length > 1) return;
    await c.write(STREAM_HEAD);
    const bytes = enc.encode(frameText("e-1", 1, { s: "héllo ✓ 😀" }));
    for (const b of bytes) {
      await c.writeBytes(new Uint8Array([0x31, 13, 10, b, 13, 10])); // "1\r\n" byte "\r\n"
    }
    // A lone continuation byte and a cut sequence: replaced, the event still parses.
    const bad = enc.encode(frameText("e-2", 2, { s: "XY" }));
    const at = bad.indexOf(0x58); // "X"
    bad[at] = 0x80;
    bad[at + 1] = 0xe2;
    await c.write(`${bad.length.toString(16)}\r\n`);
    await c.writeBytes(bad);
    await c.write("\r\n" + chunk(frameText("e-3", 3)));
  });
  const got: Array<Record<string, unknown>> = [];
  await subscribed(
    server,
    { idleTimeoutMs: 5_000 },
    (e) => void got.push(e.payload),
    async (_statuses, sub) => {
      await waitFor(() => got.length >= 3, 5_000, "three events");
      assert.deepEqual(got[0], { n: 1, s: "héllo ✓ 😀" });
      assert.equal(got[1].n, 2);
      assert.equal(got[1].s, "\ufffd\ufffd");
      assert.equal(got[2].n, 3);
      assert.equal(sub.lastId(), "e-3");
    },
  );
});

Deno.test("a relay that closes in the middle of an event: the cut event is not handled, resumed before it", async () => {
  const server = startStallServer(async (c) => {
    if (server.connections.length === 1) {
      const cut = frameText("e-2", 2);
      await c.write(STREAM_HEAD + chunk(frameText("e-1", 1)) + chunk(cut.slice(0, 20)));
      c.end();
    } else await c.write(STREAM_HEAD + chunk(frameText("e-2", 2)));
  });
  const got: number[] = [];
  await subscribed(
    server,
    { idleTimeoutMs: 5_000 },
    (e) => void got.push(e.payload.n as number),
    async () => {
      await waitFor(() => got.length >= 2, 5_000, "two events over two connections");
      assert.deepEqual(got, [1, 2]);
      assert.equal(header(server.connections[1].lines, "last-event-id"), "e-1");
    },
  );
});

Deno.test("a redirect is not followed: reported, and the token never goes where it points", async () => {
  const elsewhere = startStallServer(() => {});
  const server = startStallServer(async (c) => {
    await c.write(
      `HTTP/1.1 307 Temporary Redirect\r\nlocation: ${elsewhere.url}/subscribe?topic=t\r\n` +
        "content-length: 0\r\n\r\n",
    );
  });
  try {
    await subscribed(server, { token: "s3cret-tok" }, () => {}, async (statuses) => {
      await waitFor(() => server.connections.length >= 2, 5_000, "a second connection");
      assert.equal(statuses[0]?.[0], "disconnected");
      assert.match(statuses[0]?.[1] ?? "", /307/);
      assert.equal(elsewhere.connections.length, 0);
    });
  } finally {
    elsewhere.close();
  }
});

Deno.test("an endless header line is refused at the head's bound: reported, reconnected", async () => {
  const server = startStallServer(async (c) => {
    await c.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-pad: ");
    const pad = "a".repeat(16 * 1024);
    for (let i = 0; i < 8 && !c.isClosed; i++) await c.write(pad).catch(() => {});
  });
  await subscribed(server, { idleTimeoutMs: 5_000 }, () => {}, async (statuses) => {
    await waitFor(() => server.connections.length >= 2, 5_000, "a second connection");
    assert.equal(statuses[0]?.[0], "disconnected");
    assert.match(statuses[0]?.[1] ?? "", /head too large/);
  });
});
