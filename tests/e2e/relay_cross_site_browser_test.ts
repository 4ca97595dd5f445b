/**
 * A relay running open on loopback (development) against a page of another site in real
 * Chromium: a plain form post and a no-cors `fetch` need no preflight, so only the relay's own
 * check of `Origin` keeps a page the developer visits from publishing into the mesh.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { CHROMIUM, haveChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "a page of another site cannot publish to an open relay; an allowed origin still can",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay({ cors_origins: ["http://app.test:1"] });
    const body = JSON.stringify({ topic: "action.instructions", payload: { forged: true } });
    const page = `<!doctype html><script>
      fetch(${JSON.stringify(`${relay.url}/publish`)}, {
        method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
        body: ${JSON.stringify(body)},
      }).finally(() => { document.title = "sent"; });
    </script>`;
    const site = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(page, { headers: { "content-type": "text/html" } }),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--host-resolver-rules=MAP evil.test 127.0.0.1",
      ],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(`http://evil.test:${site.addr.port}/`);
      await tab.waitForFunction(`document.title === "sent"`);
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
      await browser.close();
      await site.shutdown();
      await relay.close();
    }
  },
});
