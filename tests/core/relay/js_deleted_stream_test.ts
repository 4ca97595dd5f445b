/**
 * A relay stream deleted under a running replica: `GET /topics` answers what the replica has
 * rather than failing while the stream is gone.
 * @module
 */
import assert from "node:assert/strict";
import type { Service } from "../../../core/http/mod.ts";
import { natsMissing, startNats } from "../../support/nats.ts";
import { publish, startRelay } from "./relay_helpers.ts";

const ignore = natsMissing !== undefined;
const STREAM = "IATP_RELAY";

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
