/**
 * `iatp up` end to end: the launcher starts the whole mesh with the demo on free ports; headless
 * Chromium opens the printed login URL with the viewer credential from its file in the fragment
 * (stdout is a pipe, so the banner does not print it), lands logged in, and the activity page shows
 * allow, deny, block and warn cards; the ledger is checked with the key of the audit service up
 * started (pinned); SIGINT (Ctrl-C) stops everything cleanly with exit 0.
 */
import assert from "node:assert/strict";
import { spawnIatp, tempDir, waitFor } from "../helpers.ts";
import { haveChromium, launchChromium } from "./dashboard_mesh.ts";

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
  name:
    "iatp up: the printed login opens the dashboard; allow, deny, block and warn cards; Ctrl-C exits 0",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const data = await tempDir();
    const up = spawnIatp(["up", ...PORT_FLAGS, "--demo-interval", "200ms"], {
      env: { IATP_DATA_DIR: data.path },
    });
    const browser = await launchChromium();
    try {
      let login = "";
      await waitFor(
        () => {
          login = /Dashboard login: (http\S+)/.exec(up.stdout())?.[1] ?? "";
          return login !== "";
        },
        60_000,
        `iatp up to print the dashboard login\n${up.stdout()}\n${up.stderr()}`,
      );
      // Piped, the banner leaves the viewer credential in its file: the login URL takes it.
      const viewer = Deno.readTextFileSync(`${data.path}/credentials/viewer.token`).trim();
      assert.ok(!up.stdout().includes(viewer), "the viewer credential was printed to a pipe");
      login = `${login}#token=${viewer}`;
      const base = new URL(login).origin;
      const page = await browser.newPage();
      const anonymous = await fetch(`${base}/api/state`);
      await anonymous.body?.cancel();
      assert.equal(anonymous.status, 401, "the dashboard of iatp up needs a login");
      await page.goto(login);
      await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 20_000 });
      await page.goto(`${base}/activity`);
      for (const decision of ["allow", "deny", "block", "warn"]) {
        await page.waitForSelector(`.card .pill-${decision}`, { timeout: 45_000 });
      }
      const shot = Deno.env.get("IATP_UP_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot, fullPage: false });
      const text = await page.textContent("body");
      assert.ok(text && !text.includes("4532-0151-1283-0366"), "a card number reached the page");
      // up pins its own audit service's key: the ledger and receipts are verified, not unpinned.
      await page.goto(`${base}/`);
      await waitFor(
        async () =>
          /verified with the configured key/.test(await page.textContent("#ledger") ?? ""),
        30_000,
        "the ledger verified with the pinned key",
      );
    } finally {
      await browser.close();
      const status = await up.stop("SIGINT", 20_000);
      await data.remove();
      assert.equal(status.code, 0, `exit ${status.code}\n${up.stderr()}`);
    }
  },
});
