/**
 * A relay stream deleted under a running replica (and created again by another replica's start):
 * `GET /topics` answers what the replica has rather than failing while the stream is gone, a
 * subscription resuming past the replica's tail is told to retry (503) rather than failing, and a
 * publish retried with its `Idempotency-Key` after the new stream was followed is stored in it,
 * not answered with the old stream's sequence (an id that names another event of the new one).
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { waitFor } from "../../helpers.ts";
import { publish, startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
const STREAM = "IATP_RELAY";
/** The test's bound on the running replica noticing the new stream. */
const FOLLOW_WITHIN_MS = 30_000;

async function epochOf(url: string): Promise<string> {
  return String((await (await fetch(`${url}/health`)).json()).epoch);
}

Deno.test({
  name: "jetstream deleted stream: GET /topics is answered from the replica's own history",
  ignore,
}, async () => {
  const nats = await startNats();
  const started: Service[] = [];
  try {
    const a = await startRelay({ store: nats.url, compat: "iatp" });
    started.push(a);
    assert.equal((await publish(a.url, "t", { n: 1 })).status, 201);
    await (await nats.manager()).streams.delete(STREAM);
    const res = await fetch(`${a.url}/topics`);
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.topics.map((t: { topic: string }) => t.topic), ["t"]);
  } finally {
    for (const s of started) await s.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream deleted stream: a resume past the replica's tail is told to retry, not a 500",
  ignore,
}, async () => {
  const nats = await startNats();
  const started: Service[] = [];
  try {
    const a = await startRelay({ store: nats.url, compat: "iatp", resume_wait: 200 });
    started.push(a);
    assert.equal((await publish(a.url, "t", { n: 1 })).status, 201);
    const epoch = await epochOf(a.url);
    await (await nats.manager()).streams.delete(STREAM);
    const res = await fetch(`${a.url}/subscribe?topic=t`, {
      headers: { "last-event-id": `${epoch}-5` },
    });
    const body = await res.json();
    assert.equal(res.status, 503, JSON.stringify(body));
    assert.ok(res.headers.get("retry-after"), "Retry-After");
    assert.match(String(body.error ?? body.detail ?? ""), /caught up|retry/);
  } finally {
    for (const s of started) await s.close();
    await nats.stop();
  }
});

Deno.test({
  name: "jetstream deleted stream: a keyed publish retried after the stream was created again is " +
    "stored in the new stream",
  ignore,
}, async () => {
  const nats = await startNats();
  const started: Service[] = [];
  try {
    const a = await startRelay({ store: nats.url, compat: "iatp" });
    started.push(a);
    const key = { "idempotency-key": "k-1" };
    const first = await publish(a.url, "t", { v: 1 }, key);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    await (await nats.manager()).streams.delete(STREAM);
    const b = await startRelay({ store: nats.url, compat: "iatp" });
    started.push(b);
    const fresh = await epochOf(b.url);
    for (let n = 1; n <= 3; n++) assert.equal((await publish(b.url, "u", { n })).status, 201);
    await waitFor(async () => await epochOf(a.url) === fresh, FOLLOW_WITHIN_MS, "the new epoch");

    const res = await fetch(`${a.url}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", ...key },
      body: JSON.stringify({ topic: "t", payload: { v: 1 } }),
    });
    const body = await res.json();
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(res.headers.get("idempotent-replayed"), null);
    assert.equal(body.event_id, first.body.event_id);
    assert.equal(body.id, `${fresh}-4`);
    await waitFor(
      async () => {
        const topics = await (await fetch(`${b.url}/topics`)).json();
        return topics.topics?.some((t: { topic: string }) => t.topic === "t") === true;
      },
      FOLLOW_WITHIN_MS,
      "the retried event in the new stream",
    );
  } finally {
    for (const s of started) await s.close();
    await nats.stop();
  }
});
