/**
 * `iatp up` end to end: the launcher starts the whole mesh with the demo on free ports; headless
 * Chromium opens the printed dashboard URL and sees allow, deny, block and warn cards; SIGINT
 * (Ctrl-C) stops everything cleanly with exit 0.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { spawnIatp, tempDir, waitFor } from "../helpers.ts";

const CHROMIUM = Deno.env.get("IATP_CHROMIUM") ?? "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

const PORT_FLAGS = [
  "relay",
  "policy",
  "audit",
  "dashboard",
  "sidecar",
  "untrusted-sidecar",
  "agent",
  "sensor",
  "action",
].flatMap((n) => [`--${n}-port`, "0"]);

Deno.test({
  name: "iatp up: the dashboard shows allow, deny, block and warn cards; Ctrl-C exits 0",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const data = await tempDir();
    const up = spawnIatp(["up", ...PORT_FLAGS, "--demo-interval", "200ms"], {
      env: { IATP_DATA_DIR: data.path },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      let url = "";
      await waitFor(
        () => {
          url = /Open the dashboard: (http\S+)/.exec(up.stdout())?.[1] ?? "";
          return url !== "";
        },
        60_000,
        `iatp up to print the dashboard URL\n${up.stdout()}\n${up.stderr()}`,
      );
      const page = await browser.newPage();
      await page.goto(url);
      for (const decision of ["allow", "deny", "block", "warn"]) {
        await page.waitForSelector(`.pill-${decision}`, { timeout: 45_000 });
      }
      const shot = Deno.env.get("IATP_UP_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot, fullPage: false });
      const text = await page.textContent("body");
      assert.ok(text && !text.includes("4532-0151-1283-0366"), "a card number reached the page");
    } finally {
      await browser.close();
      const status = await up.stop("SIGINT", 20_000);
      await data.remove();
      assert.equal(status.code, 0, `exit ${status.code}\n${up.stderr()}`);
    }
  },
});
