/**
 * The live pages in headless Chromium, against a real relay and an open dashboard on loopback:
 * the keyboard focus stays on its link when the overview section holding it is refreshed, or
 * when new events push its card past the events page's length; and an overview refresh the
 * dashboard does not answer is given up with the page saying so, never doubled.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { startDashboard } from "../cmd/dashboard_helpers.ts";
import { haveChromium, inPage, withChromium } from "./dashboard_mesh.ts";
import type { Service } from "../../core/http/mod.ts";

/** A browser test against a relay and an open dashboard refreshing its overview every 500 ms. */
function overviewTest(
  name: string,
  fn: (relay: Service, dash: Service, browser: Browser) => Promise<void>,
  extra: Record<string, unknown> = {},
) {
  Deno.test({
    name,
    ignore: !haveChromium,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const relay = await startRelay();
      const dash = await startDashboard(relay.url, { overview_refresh: 500, ...extra });
      try {
        await withChromium((browser) => fn(relay, dash, browser));
      } finally {
        await dash.close();
        await relay.close();
      }
    },
  });
}

const updates = "Number(document.querySelector('#chart')?.dataset.updates ?? 0)";

overviewTest(
  "browser: the keyboard focus survives the overview's refresh",
  async (relay, dash, browser) => {
    for (const agent of ["agent-a", "agent-b", "agent-c"]) {
      await publish(relay.url, "iatp.trace", {
        type: "blocked",
        agent_id: agent,
        decision: "block",
      });
    }
    const page = await browser.newPage();
    await page.goto(`${dash.url}/`);
    await page.waitForSelector("#agents a:has-text('agent-b')");
    await page.focus("#agents a:has-text('agent-b')");
    const before = Number(await inPage(page, updates));
    // Two refreshes after the focus moved (a function, not a string: the CSP forbids eval).
    await page.waitForFunction(
      (n: number) => {
        // Typed by hand: the tests are checked without the DOM library.
        const doc = (globalThis as unknown as {
          document: { querySelector(s: string): { dataset: Record<string, string> } | null };
        }).document;
        return Number(doc.querySelector("#chart")?.dataset.updates ?? 0) >= n;
      },
      before + 2,
      { timeout: 15_000 },
    );
    const focused = await inPage(
      page,
      "[document.activeElement?.tagName, document.activeElement?.textContent].join(' ')",
    );
    assert.equal(focused, "A agent-b", "the focus is still on the agent's link");
    // Tab goes on from there, not from the top of the page.
    await page.keyboard.press("Tab");
    assert.equal(await inPage(page, "document.activeElement?.textContent"), "agent-a");
  },
);

overviewTest(
  "browser: an unanswered refresh says so and is never doubled",
  async (_relay, dash, browser) => {
    const page = await browser.newPage();
    await page.goto(`${dash.url}/`);
    await page.waitForSelector("#relay-status[data-state=connected]");
    // From now on the overview's refreshes get no answer; the page gives each up in the end.
    let inFlight = 0;
    let most = 0;
    await page.route(`${dash.url}/`, () => {
      most = Math.max(most, ++inFlight);
    });
    page.on("requestfailed", (r) => {
      if (r.url() === `${dash.url}/`) inFlight--;
    });
    await page.waitForSelector("#relay-status[data-state=stream-lost]", { timeout: 30_000 });
    const status = String(
      await inPage(page, "document.querySelector('#relay-status').textContent"),
    );
    assert.match(status, /no answer within 5 s/);
    assert.equal(most, 1, "one refresh at a time");
    await page.unroute(`${dash.url}/`);
    await page.waitForSelector("#relay-status[data-state=connected]", { timeout: 15_000 });
  },
);

overviewTest(
  "browser: the events page keeps the card holding the focus as new events arrive",
  async (relay, dash, browser) => {
    for (let i = 1; i <= 3; i++) {
      await publish(relay.url, "sensor.cpu", { tx_id: `tx-${i}`, agent_id: "s", value: i });
    }
    const page = await browser.newPage();
    await page.goto(`${dash.url}/activity`);
    await page.waitForSelector("#stream-status[data-state=connected]");
    // The oldest card of the page (page_size 3) holds the focus.
    await page.focus("#cards li a[href='/tx/tx-1']");
    for (let i = 4; i <= 6; i++) {
      await publish(relay.url, "sensor.cpu", { tx_id: `tx-${i}`, agent_id: "s", value: i });
    }
    await page.waitForSelector("#cards li a[href='/tx/tx-6']");
    assert.equal(
      await inPage(page, "document.activeElement?.getAttribute('href')"),
      "/tx/tx-1",
      "the focused card stayed",
    );
    assert.equal(await page.locator("#cards li").count(), 3, "the page still holds page_size");
  },
  { page_size: 3 },
);
