/**
 * Warnings that repeat under a fault are written once a minute with the count since the last:
 * the relay client's line for events the relay refused for good (a full stream refuses every
 * event), and the relay's line for publishes its engine did not acknowledge (an engine outage).
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import { createLogger, LogEvery } from "../../../core/log/mod.ts";
import { RelayClient } from "../../../core/relay/mod.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { freeze, waitFor } from "../../helpers.ts";
import { command } from "../../../cmd/relay.ts";

Deno.test("LogEvery: one line per interval, counting the occurrences since the last", () => {
  const every = new LogEvery(1_000);
  assert.equal(every.due(0), 1);
  assert.equal(every.due(1), undefined);
  assert.equal(every.due(999), undefined);
  assert.equal(every.due(1_000), 3, "this one and the two not logged");
  assert.equal(every.due(1_500), undefined);
});

Deno.test("relay client: events a relay refuses for good are dropped with one warning, not one each", async () => {
  const ac = new AbortController();
  // A relay whose stream is full: every publish answered 507.
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, () =>
    Response.json({ error: "relay store cannot write: the relay's stream is full" }, {
      status: 507,
    }));
  const lines: string[] = [];
  const log = createLogger({ service: "t", level: "warn", sink: (l) => lines.push(l) });
  const client = new RelayClient({
    url: `http://127.0.0.1:${server.addr.port}`,
    log,
    backoffMinMs: 10,
  });
  try {
    for (let n = 0; n < 20; n++) assert.ok(client.publish("t", { n, secret: "never-logged" }));
    await waitFor(() => client.stats().dropped === 20, 10_000, "every event dropped");
    const dropped = lines.filter((l) => l.includes("relay rejected an event; dropped"));
    assert.equal(dropped.length, 1, lines.join("\n"));
    assert.match(dropped[0], /"dropped":1\b/);
    assert.doesNotMatch(lines.join("\n"), /never-logged/);
  } finally {
    await client.close();
    ac.abort();
    await server.finished;
  }
});

Deno.test({
  name: "relay: publishes an unanswering engine did not acknowledge are logged once, not each",
  ignore: natsMissing !== undefined,
}, async () => {
  const nats = await startNats();
  const lines: string[] = [];
  const log = createLogger({ service: "relay-test", level: "warn", sink: (l) => lines.push(l) });
  let relay: Service | undefined;
  const server = nats.nodes[0].process;
  try {
    relay = await command.start(
      command.resolve({
        port: 0,
        workers: 1,
        compat: "iatp",
        store: nats.url,
        nats: { timeout: 1_000 },
      }),
      { log },
    );
    const url = relay.url;
    const post = (n: number) =>
      fetch(`${url}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "t", payload: { n } }),
        signal: AbortSignal.timeout(20_000),
      }).then(async (r) => (await r.body?.cancel(), r.status));
    assert.equal(await post(0), 201);
    await freeze(server.pid);
    const statuses = await Promise.all([1, 2, 3, 4, 5, 6].map(post));
    assert.deepEqual(statuses, [503, 503, 503, 503, 503, 503]);
    const unacked = lines.filter((l) => l.includes("publish not acknowledged by the engine"));
    assert.equal(unacked.length, 1, lines.join("\n"));
    assert.match(unacked[0], /"count":1\b/);
  } finally {
    try {
      server.kill("SIGCONT");
    } catch { /* gone */ }
    await relay?.close();
    await nats.stop();
  }
});
