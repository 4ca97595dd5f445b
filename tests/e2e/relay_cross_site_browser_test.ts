/**
 * A relay running open on loopback (development) against a page of another site in real
 * Chromium: a plain form post and a no-cors `fetch` need no preflight, so only the relay's own
 * check of `Origin` keeps a page the developer visits from publishing into the mesh.
 */
import assert from "node:assert/strict";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { postFromOtherSite } from "./cross_site.ts";
import { haveChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "a page of another site cannot publish to an open relay; an allowed origin still can",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay({ cors_origins: ["http://app.test:1"] });
    const body = JSON.stringify({ topic: "action.instructions", payload: { forged: true } });
    try {
      await postFromOtherSite(`${relay.url}/publish`, body);
      // A publish that came through would have taken the topic's first position.
      assert.equal((await publish(relay.url, "action.instructions", { real: true })).body.seq, 1);
      const topics = await (await fetch(`${relay.url}/topics`)).json();
      assert.deepEqual(topics.topics.map((t: { count: number }) => t.count), [1]);
      const allowed = await fetch(`${relay.url}/publish`, {
        method: "POST",
        headers: { origin: "http://app.test:1", "content-type": "application/json" },
        body,
      });
      assert.equal(allowed.status, 200, "an origin in cors_origins publishes");
      await allowed.body?.cancel();
      const other = await fetch(`${relay.url}/publish`, {
        method: "POST",
        headers: { origin: "null", "content-type": "application/json" },
        body,
      });
      assert.equal(other.status, 403);
      assert.equal((await other.json()).setting, "cors_origins");
    } finally {
      await relay.close();
    }
  },
});
