/**
 * Cross-site forgery against the dashboard's login and logout in real Chromium, on an origin the
 * browser does not treat as secure (a plain-HTTP host name, mapped to loopback), where it sends
 * no `Sec-Fetch-Site` and only `Origin` tells a forged post from the dashboard's own; and a
 * login link (`/login#token=`) another site sends the browser to, on loopback too.
 */
import assert from "node:assert/strict";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { issuerFor, startDashboard } from "../cmd/dashboard_helpers.ts";
import { haveChromium, launchChromium } from "./dashboard_mesh.ts";

/** Serves `html` at `/` on a free loopback port (the attacker's site). */
function serveSite(html: string) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html" } }),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

const forgedForm = (action: string, fields: Record<string, string>) =>
  `<!doctype html><meta name="referrer" content="no-referrer"><form method="post" action="${action}">` +
  Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join(
    "",
  ) +
  `</form><script>document.forms[0].submit()</script>`;

Deno.test({
  name: "a forged cross-site login or logout neither swaps nor ends the viewer's session",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay();
    const { publicKey, mint } = await issuerFor();
    const dash = await startDashboard(relay.url, { auth_keys: [publicKey] });
    const dashPort = new URL(dash.url).port;
    const home = `http://dash.test:${dashPort}`;
    const attacker = await mint("attacker", ["dashboard:view", "subscribe:nothing.here"]);
    const forgeLogin = serveSite(forgedForm(`${home}/login`, { credential: attacker }));
    const forgeLogout = serveSite(forgedForm(`${home}/logout`, {}));
    const browser = await launchChromium(["dash.test", "evil.test"]);
    try {
      await publish(relay.url, "sensor.cpu", { agent_id: "s1", value: 93 });
      const page = await browser.newPage();
      const viewerOf = async () => {
        await page.goto(`${home}/api/state`);
        return JSON.parse(await page.locator("body").innerText()).viewer;
      };
      // The dashboard's own login page, on the same insecure origin, still logs in: the browser
      // says nothing of where a login link came from there, so it takes a click.
      const victim = await mint("victim", ["dashboard:view", "subscribe:*"]);
      await page.goto(`${home}/login#token=${victim}`);
      await page.getByRole("button", { name: "Log in with the link's credential" }).click();
      await page.waitForURL(`${home}/`);
      assert.equal(await viewerOf(), "victim");

      await page.goto(`http://evil.test:${forgeLogin.port}/`);
      await page.waitForLoadState("load");
      await page.waitForTimeout(0);
      assert.equal(await viewerOf(), "victim", "a forged login does not replace the session");

      await page.goto(`http://evil.test:${forgeLogout.port}/`);
      await page.waitForLoadState("load");
      assert.equal(await viewerOf(), "victim", "a forged logout does not end the session");

      // The dashboard's own logout button still works.
      await page.goto(`${home}/`);
      await page.getByRole("button", { name: "Log out" }).click();
      await page.waitForURL(/\/login/);
      await page.goto(`${home}/api/state`);
      assert.match(await page.locator("body").innerText(), /authentication required|login/i);
    } finally {
      await browser.close();
      await forgeLogin.close();
      await forgeLogout.close();
      await dash.close();
      await relay.close();
    }
  },
});

/** Serves a page that sends the browser to `url` as soon as it loads. */
const redirectingSite = (url: string) =>
  serveSite(
    `<!doctype html><meta name="referrer" content="no-referrer">` +
      `<script>location.href = ${JSON.stringify(url)}</script>`,
  );

Deno.test({
  name: "a login link another site sends the browser to asks first and swaps no session",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay();
    const { publicKey, mint } = await issuerFor();
    const dash = await startDashboard(relay.url, { auth_keys: [publicKey] });
    const dashPort = new URL(dash.url).port;
    const attacker = await mint("attacker", ["dashboard:view", "subscribe:nothing.here"]);
    const victim = await mint("victim", ["dashboard:view", "subscribe:*"]);
    const browser = await launchChromium(["dash.test", "evil.test"]);
    // Loopback, where the browser names the site a navigation came from, and a host name where
    // it does not.
    const homes = [`http://127.0.0.1:${dashPort}`, `http://dash.test:${dashPort}`];
    const sites = homes.map((home) => redirectingSite(`${home}/login#token=${attacker}`));
    try {
      for (const [i, home] of homes.entries()) {
        const context = await browser.newContext();
        const page = await context.newPage();
        const viewerOf = async () => {
          await page.goto(`${home}/api/state`);
          return JSON.parse(await page.locator("body").innerText()).viewer;
        };
        await page.goto(`${home}/login#token=${victim}`);
        const prompt = page.getByRole("button", { name: "Log in with the link's credential" });
        if (i === 0) {
          // Opened by the viewer (a typed or pasted address): it logs in at once.
          await page.waitForURL(`${home}/`);
        } else {
          await prompt.click();
          await page.waitForURL(`${home}/`);
        }
        assert.equal(await viewerOf(), "victim", home);

        await page.goto(`http://evil.test:${sites[i].port}/`);
        await page.waitForURL(`${home}/login`);
        await prompt.waitFor();
        assert.equal(await page.evaluate("location.hash"), "", "the credential left the address");
        assert.equal(await viewerOf(), "victim", `${home}: the session is still the victim's`);
        await context.close();
      }
    } finally {
      await browser.close();
      for (const s of sites) await s.close();
      await dash.close();
      await relay.close();
    }
  },
});
