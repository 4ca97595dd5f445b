/**
 * DNS rebinding in real Chromium: a name of another site resolving to 127.0.0.1 (what the
 * rebinding ends with, here by a resolver rule) makes a page of that name same-origin with a
 * relay open on loopback. The relay refuses whatever names that host (421), so the page reads
 * no event; the same relay under `localhost` serves the browser as before. The refusal itself
 * carries the no-content `Content-Security-Policy`, so the page it makes cannot even ask: its
 * reads are checked again with the policy bypassed, to show the relay refuses them on its own.
 */
import assert from "node:assert/strict";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { haveChromium, launchChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "a rebound name reads nothing from a relay open on loopback",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay();
    const port = new URL(relay.url).port;
    const browser = await launchChromium(["rebind.test"]);
    try {
      assert.equal((await publish(relay.url, "access.intent", { secret: "s-1" })).status, 200);
      const tab = await browser.newPage();
      const first = await tab.goto(`http://rebind.test:${port}/topics`);
      assert.equal(first?.status(), 421);
      assert.equal((await first?.json()).found, `rebind.test:${port}`);
      // The page's own same-origin reads, as a rebinding script makes them: the refusal's policy
      // lets it connect nowhere.
      const blocked = await tab.evaluate(async () => {
        try {
          await fetch("/subscribe?topic=access.intent&since=0");
          return "fetched";
        } catch (err) {
          return String(err);
        }
      });
      assert.match(blocked, /TypeError/);
      // With the policy bypassed, the relay refuses the same reads itself.
      const bypass = await browser.newContext({ bypassCSP: true });
      const open = await bypass.newPage();
      assert.equal((await open.goto(`http://rebind.test:${port}/topics`))?.status(), 421);
      const read = await open.evaluate(async () => {
        const r = await fetch("/subscribe?topic=access.intent&since=0");
        return { status: r.status, body: await r.text() };
      });
      assert.equal(read.status, 421);
      assert.doesNotMatch(read.body, /s-1/);
      await bypass.close();
      const local = await tab.goto(`http://localhost:${port}/topics`);
      assert.equal(local?.status(), 200);
      assert.match(await local!.text(), /access\.intent/);
    } finally {
      await browser.close();
      await relay.close();
    }
  },
});
