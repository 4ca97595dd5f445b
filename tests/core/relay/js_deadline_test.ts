/**
 * A publish's deadline on the JetStream store while the engine is away, with a real nats-server:
 * it runs from the publish's arrival, so publishes queued behind their topic's earlier ones are
 * not each given a fresh `--nats-timeout` (a client waited for all of them in turn); and with
 * `--workers` a publish the main isolate does not answer within the channel's bound is 503 with
 * Retry-After, not 500.
 * @module
 */
import assert from "node:assert/strict";
import { connectNats, isEngineOutage } from "../../../core/nats/mod.ts";
import { StreamWriter } from "../../../core/relay/js_writer.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { freeze, waitFor } from "../../helpers.ts";
import { exchange, header, json } from "../../support/raw_http.ts";
import { quietLog, startJsRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;

Deno.test({
  name: "StreamWriter: publishes queued behind their topic's earlier ones share the deadline of " +
    "their arrival; none is written after it",
  ignore,
}, async () => {
  const nats = await startNats();
  const engine = await connectNats(
    { url: nats.url, timeoutMs: 5_000, name: "deadline-test" },
    quietLog,
  );
  try {
    await engine.jsm.streams.add({ name: "D", subjects: ["d.>"] });
    const writer = new StreamWriter({ engine, prefix: "d", timeoutMs: 3_000, maxPending: 10 });
    await writer.publish({ topic: "t", eventId: "before", payloadJson: "{}", tsMs: 1 });
    await nats.nodes[0].kill();
    const queued = Array.from(
      { length: 4 },
      (_, i) => writer.publish({ topic: "t", eventId: `q${i}`, payloadJson: "{}", tsMs: 1 }),
    );
    const settled = queued.map((p) => p.then(() => "written", (err) => err));
    // Once the first is refused, the deadline every queued one got at its arrival has passed:
    // the engine coming back now must not take the others.
    const first = await settled[0];
    assert.ok(isEngineOutage(first), `the first: ${first}`);
    await nats.nodes[0].restart();
    const rest = await Promise.all(settled.slice(1));
    for (const r of rest) assert.ok(isEngineOutage(r), `a queued publish: ${r}`);
    const jsm = await nats.manager();
    await waitFor(
      async () => {
        try {
          await jsm.streams.info("D");
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      "the stream after the restart",
    );
    assert.equal((await jsm.streams.info("D")).state.messages, 1, "only the event before");
  } finally {
    await engine.close();
    await nats.stop();
  }
});

Deno.test({
  name: "relay --workers 2 on JetStream: with the engine silent past the isolates' channel " +
    "bound, every publish is 503 with Retry-After and a JSON body, none 500",
  ignore,
}, async () => {
  const nats = await startNats();
  // A NATS timeout longer than the channel's 10 s bound on a worker's call to the main isolate.
  const relay = await startJsRelay(nats.url, "--workers=2", "--nats-timeout=12s");
  try {
    await waitFor(() => relay.stdout().includes("relay workers serving"), 30_000, "workers");
    const port = Number(new URL(relay.url).port);
    const publish = async (n: number) => {
      const body = JSON.stringify({ topic: `t${n % 2}`, payload: { n } });
      const r = await exchange(
        port,
        `POST /publish HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
          `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
        { timeoutMs: 30_000 },
      );
      if (!r) throw new Error("no answer to a publish");
      return r;
    };
    assert.equal((await publish(0)).status, 201);
    // A server that stops answering (its connections stay open): publishes wait for it.
    await freeze(nats.nodes[0].process.pid);
    // Each on its own connection, so both isolates take some.
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => publish(i + 1)));
    for (const r of answers) {
      assert.equal(r.status, 503, r.body);
      assert.equal(header(r, "retry-after"), "1");
      assert.equal(typeof json(r).error, "string");
    }
  } finally {
    Deno.kill(nats.nodes[0].process.pid, "SIGCONT");
    await relay.stop();
    await nats.stop();
  }
});
