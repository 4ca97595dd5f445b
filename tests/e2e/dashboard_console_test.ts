/**
 * The governance console's acceptance in real Chromium at 1280x800 and 390x844, over the whole
 * mesh with demo traffic (`iatp up`'s services) and a dashboard behind a login: the overview
 * shows every service's health and a chart that updates as traffic flows, a deny states its
 * reason, the transaction page shows the intent's context and verified receipts, search by tx id
 * finds it, no horizontal scroll, no console errors, no serious axe-core violation, keyboard
 * navigation. Screenshots of every page go to test-artifacts/dashboard/; with
 * IATP_DOCS_IMAGES=1 the overview and a transaction page are also written to docs/images/ (off
 * by default, so a test run leaves the tracked images alone).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { waitFor } from "../helpers.ts";
import {
  DOCS_IMAGES,
  haveChromium,
  inPage,
  scrollsSideways,
  seriousViolations,
  shoot,
  startDashboardMesh,
  VIEWPORTS,
  watchedPage,
  withChromium,
} from "./dashboard_mesh.ts";

const DOCS = Deno.env.get("IATP_DOCS_IMAGES") === "1";
const SERVICES = ["relay", "policy", "audit", "sidecar", "sidecar-untrusted", "sensor", "action"];

async function checkPage(page: Page, errors: string[], name: string): Promise<void> {
  assert.equal(await scrollsSideways(page), false, `${name}: no horizontal scroll`);
  assert.deepEqual(await seriousViolations(page), [], `${name}: axe-core`);
  assert.deepEqual(errors, [], `${name}: console errors`);
  await shoot(page, name);
}

async function totalDecisions(page: Page): Promise<number> {
  const counts = await page.locator("#totals .count").allTextContents();
  return counts.reduce((a, c) => a + Number(c), 0);
}

async function overview(page: Page, errors: string[], size: string): Promise<void> {
  for (const name of SERVICES) {
    await page.waitForSelector(`#services tr[data-service="${name}"][data-state="up"]`, {
      timeout: 20_000,
    });
  }
  await page.waitForSelector('#chart[data-ready="1"] canvas');
  await page.waitForSelector("#latest .latest-row[data-decision=deny]", { timeout: 20_000 });
  const before = await totalDecisions(page);
  const updates = Number(await page.getAttribute("#chart", "data-updates") ?? "0");
  await waitFor(async () => (await totalDecisions(page)) > before, 20_000, "the chart to grow");
  assert.ok(Number(await page.getAttribute("#chart", "data-updates")) > updates, "chart redrawn");
  assert.match(await page.textContent("#ledger") ?? "", /verified with the configured key/);
  assert.match(await page.textContent("#agents") ?? "", /demo-untrusted/);
  assert.match(
    await page.textContent("#latest .latest-row[data-decision=deny]") ?? "",
    /no policy permitted it: seed-read-a-to-b needs/,
  );
  await checkPage(page, errors, `overview-${size}`);
}

async function denyAndSearch(page: Page, errors: string[], base: string, size: string) {
  await page.goto(`${base}/activity?decision=deny&topic=access.decision`);
  const card = page.locator("#cards li[data-decision=deny]").first();
  await card.waitFor({ timeout: 15_000 });
  assert.match(await card.locator(".summary").textContent() ?? "", /-> deny: .*needs/);
  const tx = (await card.locator("a.tx").textContent())!.replace(/^tx /, "");
  await checkPage(page, errors, `events-${size}`);
  await page.goto(`${base}/activity`);
  await page.fill("#f-tx", tx);
  await page.press("#f-tx", "Enter");
  await page.waitForURL(new RegExp(`tx=${tx}`));
  const found = await page.locator("#cards li").evaluateAll((els) =>
    els.map((e) => e.querySelector("a.tx")?.textContent)
  );
  assert.ok(found.length >= 2, "the intent and its decision");
  assert.ok(found.every((t) => t === `tx ${tx}`), "search by tx id finds only it");
  await page.click(".tx-link a");
  await page.waitForURL(`${base}/tx/${tx}`);
  return tx;
}

async function txPage(page: Page, errors: string[], tx: string, size: string) {
  assert.equal(await page.textContent("h1"), `Transaction ${tx}`);
  assert.match(await page.textContent("#outcome") ?? "", /deny.*policy: no policy permitted it/s);
  const intent = await page.textContent("#tx-intent .intent-fields") ?? "";
  assert.match(intent, /session_risk/, "the intent's context is visible");
  await page.waitForSelector("#tx-story .step.ok", { timeout: 15_000 });
  assert.match(await page.textContent("#tx-story") ?? "", /receipt verified/);
  assert.match(await page.textContent("#tx-audit") ?? "", /receipt verified/);
  assert.equal(await page.locator(`a[href="/tx/${tx}"]`).count(), 0, "no self-links");
  await checkPage(page, errors, `tx-${size}`);
}

Deno.test({
  name: "browser: the governance console over the live mesh, on a laptop and a phone",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const m = await startDashboardMesh({ demoMs: 250 });
    try {
      const credential = await m.mint("ops", ["dashboard:view", "subscribe:*"]);
      await withChromium(async (browser) => {
        for (const [size, viewport] of Object.entries(VIEWPORTS)) {
          const { page, errors } = await watchedPage(browser, viewport);
          await page.goto(`${m.dash.url}/login#token=${credential}`);
          await page.waitForURL(`${m.dash.url}/`, { timeout: 15_000 });
          assert.equal(
            await page.getAttribute('link[rel="icon"]', "href"),
            "/static/client/favicon.svg",
          );
          await overview(page, errors, size);
          if (size === "desktop" && DOCS) {
            await Deno.mkdir(DOCS_IMAGES, { recursive: true });
            await page.screenshot({
              path: `${DOCS_IMAGES}/dashboard-overview.png`,
              fullPage: true,
            });
          }
          const tx = await denyAndSearch(page, errors, m.dash.url, size);
          await txPage(page, errors, tx, size);
          if (size === "desktop") {
            if (DOCS) {
              await page.screenshot({
                path: `${DOCS_IMAGES}/dashboard-transaction.png`,
                fullPage: true,
              });
            }
          } else {
            // The sidebar collapses behind the menu button; Escape closes it, keyboard only.
            assert.equal(await page.isVisible("#sidebar"), false);
            await page.focus("#menu-toggle");
            await page.keyboard.press("Enter");
            assert.equal(await page.getAttribute("#menu-toggle", "aria-expanded"), "true");
            assert.equal(await page.isVisible("#sidebar"), true);
            await page.keyboard.press("Escape");
            assert.equal(await page.isVisible("#sidebar"), false);
          }
          // Keyboard: on a fresh page the first Tab reaches the skip link, which moves focus to
          // the content.
          await page.reload();
          await page.keyboard.press("Tab");
          assert.equal(await inPage(page, "document.activeElement?.className"), "skip");
          await page.keyboard.press("Enter");
          assert.equal(await inPage(page, "document.activeElement?.id"), "main");
          await page.context().close();
        }
      });
    } finally {
      await m.stop();
    }
  },
});
