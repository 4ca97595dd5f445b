/**
 * The login form in real Chromium: past `login_rate`, the form comes back with the login page
 * saying when to try again (not a JSON error in place of the page), its return path kept.
 */
import assert from "node:assert/strict";
import { startRelay } from "../core/relay/relay_helpers.ts";
import { issuerFor, startDashboard } from "../cmd/dashboard_helpers.ts";
import { haveChromium, withChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "browser: a login form past login_rate gets the login page back, saying when to retry",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay();
    const { publicKey } = await issuerFor();
    const dash = await startDashboard(relay.url, { auth_keys: [publicKey], login_rate: 2 });
    try {
      await withChromium(async (browser) => {
        const page = await browser.newPage();
        await page.goto(`${dash.url}/login?next=%2Factivity`);
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) {
          await page.fill("#credential", `wrong-${i}`);
          const [res] = await Promise.all([
            page.waitForResponse((r) => r.request().method() === "POST"),
            page.click("#login-form button[type=submit]"),
          ]);
          statuses.push(res.status());
          if (i === 2) assert.match(res.headers()["retry-after"] ?? "", /^\d+$/);
          await page.waitForSelector("#login-form");
        }
        assert.deepEqual(statuses, [401, 401, 429]);
        const error = await page.textContent("#login-error");
        assert.match(error ?? "", /too many login attempts; try again in \d+ s/);
        assert.equal(
          await page.getAttribute("#login-form", "action"),
          "/login?next=%2Factivity",
          "the form still returns to the page asked for",
        );
      });
    } finally {
      await dash.close();
      await relay.close();
    }
  },
});
