/**
 * The dashboard's relay state while its subscription keeps failing, against a real socket that
 * refuses each connection with its own reason: the state shows the latest reason and how many
 * failed in a row, keeps the time it became unreachable, and the log says each new reason once.
 */
import assert from "node:assert/strict";
import { DashboardFeed } from "../../../core/dashboard/feed.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { startStallServer } from "../../support/stall_server.ts";
import { waitFor } from "../../helpers.ts";

Deno.test("the dashboard's relay state: the latest failure, its count, since the first", async () => {
  const server = startStallServer(async (c) => {
    // The same reason twice, then a new one each time.
    const n = server.connections.length;
    const body = `{"error":"refusal ${n <= 2 ? 1 : n}"}`;
    await c.write(
      `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n${body}`,
    );
  });
  const warnings: string[] = [];
  const log = createLogger({
    service: "t",
    level: "warn",
    sink: (line) => {
      const rec = JSON.parse(line);
      if (rec.msg === "relay unreachable; retrying") warnings.push(String(rec.fields?.error));
    },
  });
  const feed = new DashboardFeed({
    relayUrl: server.url,
    topics: ["*"],
    history: 10,
    queueBytes: 64 * 1024,
    maxClients: 1,
    log,
  });
  try {
    await waitFor(() => feed.relay().state === "unreachable", 10_000, "unreachable");
    const since = feed.relay().since;
    await waitFor(() => (feed.relay().failures ?? 0) >= 4, 20_000, "four failures in a row");
    const state = feed.relay();
    assert.equal(state.since, since, "since the run began");
    assert.match(state.error ?? "", new RegExp(`refusal ${state.failures}`), "the latest reason");
    // Each reason logged once: the second connection's repeats the first's.
    assert.ok(warnings.length >= 3);
    assert.match(warnings[0], /refusal 1/);
    assert.match(warnings[1], /refusal 3/);
  } finally {
    await feed.close();
    server.close();
  }
});

Deno.test("a relay's refusal shown to viewers has its secrets masked", async () => {
  // A proxy in front of the relay that quotes what it was sent: a password, a bearer token.
  const body =
    "denied: Authorization: Bearer abcdef123456 for https://ops:pw-77x@relay/?password=hunter2";
  const server = startStallServer(async (c) => {
    await c.write(
      `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n` +
        `content-length: ${body.length}\r\n\r\n${body}`,
    );
  });
  const feed = new DashboardFeed({
    relayUrl: server.url,
    topics: ["*"],
    history: 10,
    queueBytes: 64 * 1024,
    maxClients: 1,
    log: createLogger({ service: "t", level: "error", sink: () => {} }),
  });
  try {
    await waitFor(() => (feed.relay().error ?? "").includes("denied"), 10_000, "the refusal");
    const error = feed.relay().error ?? "";
    for (const secret of ["abcdef123456", "pw-77x", "hunter2"]) {
      assert.ok(!error.includes(secret), `${secret} shown: ${error}`);
    }
    assert.match(error, /relay answered 403: denied/);
  } finally {
    await feed.close();
    server.close();
  }
});
