/**
 * Pages that cannot be shown, in real Chromium: a mistyped transaction id or an unknown path
 * gets the error page (what is wrong, the way back, the same status and headers), while scripts
 * asking for JSON keep the error envelope.
 */
import assert from "node:assert/strict";
import { startRelay } from "../core/relay/relay_helpers.ts";
import { startDashboard } from "../cmd/dashboard_helpers.ts";
import { haveChromium, withChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "browser: a page that cannot be shown says why, with the way back",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay();
    const dash = await startDashboard(relay.url);
    try {
      await withChromium(async (browser) => {
        const page = await browser.newPage();
        const cases = [
          { path: "/tx/not%20an%20id", status: 400, text: "invalid transaction id" },
          { path: "/no-such-page", status: 404, text: "not found" },
        ];
        for (const { path, status, text } of cases) {
          const res = await page.goto(`${dash.url}${path}`);
          assert.equal(res?.status(), status, path);
          const headers = res?.headers() ?? {};
          assert.match(headers["content-type"] ?? "", /^text\/html/, path);
          assert.match(headers["content-security-policy"] ?? "", /default-src 'none'/, path);
          assert.equal(headers["cache-control"], "no-store", path);
          assert.equal(await page.textContent("#error-message"), text, path);
          assert.match(await page.title(), /iatp dashboard$/, path);
          await page.click("text=Back to the overview");
          await page.waitForURL(`${dash.url}/`);
        }
      });
      // Scripts keep the JSON envelope.
      const res = await fetch(`${dash.url}/tx/not%20an%20id`);
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error, "invalid transaction id");
    } finally {
      await dash.close();
      await relay.close();
    }
  },
});
