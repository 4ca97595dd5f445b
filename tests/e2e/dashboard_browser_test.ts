/**
 * The dashboard in headless Chromium (apt `chromium`, driven by playwright-core), against a
 * launched relay and dashboard with their table permissions: load, live cards, XSS as text,
 * filter and pause, and recovery after the relay restarts.
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { publish } from "../core/relay/relay_helpers.ts";
import { type ChildService, startIatpService, tempDir } from "../helpers.ts";

const CHROMIUM = Deno.env.get("IATP_CHROMIUM") ?? "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!haveChromium) {
  console.warn(
    `SKIP dashboard browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`,
  );
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface Mesh {
  relayPort: number;
  relay: ChildService & { url: string };
  dash: ChildService & { url: string };
  data: { path: string; remove(): Promise<void> };
}

async function startRelayChild(port: number, dataDir: string) {
  return await startIatpService(["relay", "--port", String(port)], {
    env: { IATP_DATA_DIR: dataDir },
  });
}

async function startMesh(): Promise<Mesh> {
  const data = await tempDir();
  const relayPort = freePort();
  const relay = await startRelayChild(relayPort, data.path);
  const dash = await startIatpService(
    ["dashboard", "--port", "0", "--relay", relay.url, "--retry", "300ms"],
    { env: { IATP_DATA_DIR: data.path } },
  );
  return { relayPort, relay, dash, data };
}

async function stopMesh(m: Mesh) {
  await m.dash.stop();
  await m.relay.stop();
  await m.data.remove();
}

async function withBrowser(fn: (page: Page, errors: string[]) => Promise<void>) {
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    await fn(page, errors);
  } finally {
    await browser.close();
  }
}

const cardFor = (eventId: string) => `#cards li[data-event-id="${eventId}"]`;

Deno.test({
  name: "browser: the page loads, a published intent appears within 2 s, payloads stay text",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const mesh = await startMesh();
    try {
      await withBrowser(async (page, errors) => {
        await page.goto(mesh.dash.url + "/");
        assert.equal(await page.title(), "iatp dashboard");
        await page.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
        await page.waitForSelector('#relay-status[data-state="connected"]', { timeout: 15_000 });

        const intent = await publish(mesh.relay.url, "access.intent", {
          tx_id: "tx-b1",
          who: "alice",
        });
        await page.waitForSelector(cardFor(String(intent.body.event_id)), { timeout: 2_000 });

        const xss = '<img src=x onerror="window.__xss=1">';
        // Cards show the payload as JSON text: the quotes appear escaped, the tag literally.
        const xssText = JSON.stringify(xss).slice(1, -1);
        const evil = await publish(mesh.relay.url, "access.intent", { tx_id: "tx-b2", note: xss });
        const evilCard = cardFor(String(evil.body.event_id));
        await page.waitForSelector(evilCard, { timeout: 2_000 });
        assert.ok((await page.textContent(`${evilCard} .payload`))!.includes(xssText));
        assert.equal(await page.locator("#cards img").count(), 0);
        assert.equal(
          await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
          undefined,
        );

        const deny = await publish(mesh.relay.url, "access.decision", {
          tx_id: "tx-b2",
          decision: "deny",
        });
        const denyCard = cardFor(String(deny.body.event_id));
        await page.waitForSelector(denyCard, { timeout: 2_000 });
        assert.equal(await page.textContent(`${denyCard} .pill-deny`), "deny");
        assert.equal(await page.getAttribute(`${denyCard} a.tx`, "href"), "/tx/tx-b2");
        assert.equal(
          await page.textContent('#counters li[data-topic="access.intent"] .count'),
          "2",
        );

        // Server-rendered on reload: the same payload is still text and still inert.
        await page.reload();
        await page.waitForSelector(evilCard);
        assert.equal(await page.locator("#cards img").count(), 0);
        assert.equal(
          await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
          undefined,
        );
        assert.equal(await page.locator(evilCard).count(), 1, "no duplicate after reload");

        // The /tx page for the transaction shows the intent and the decision.
        await page.goto(`${mesh.dash.url}/tx/tx-b2`);
        assert.ok((await page.textContent("#tx-intent"))!.includes(xssText));
        assert.equal(await page.textContent("#tx-decision .pill-deny"), "deny");
        assert.equal(
          await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
          undefined,
        );
        assert.deepEqual(errors.filter((e) => /Content Security Policy|Refused/.test(e)), []);
      });
    } finally {
      await stopMesh(mesh);
    }
  },
});

Deno.test({
  name: "browser: filter by topic, and pause holds new cards until resume",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const mesh = await startMesh();
    try {
      await withBrowser(async (page) => {
        await page.goto(mesh.dash.url + "/");
        await page.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
        const a = await publish(mesh.relay.url, "sensor.cpu", { v: 1 });
        const b = await publish(mesh.relay.url, "status.watchdog", { v: 2 });
        await page.waitForSelector(cardFor(String(b.body.event_id)), { timeout: 5_000 });
        await page.selectOption("#topic-filter", "sensor.cpu");
        assert.equal(await page.isVisible(cardFor(String(a.body.event_id))), true);
        assert.equal(await page.isHidden(cardFor(String(b.body.event_id))), true);
        await page.selectOption("#topic-filter", "");

        await page.click("#pause");
        const held = await publish(mesh.relay.url, "sensor.cpu", { v: 3 });
        await page.waitForSelector("#held:has-text('1 new')", { timeout: 5_000 });
        assert.equal(await page.locator(cardFor(String(held.body.event_id))).count(), 0);
        await page.click("#pause");
        await page.waitForSelector(cardFor(String(held.body.event_id)), { timeout: 5_000 });
      });
    } finally {
      await stopMesh(mesh);
    }
  },
});

Deno.test({
  name: "browser: the page shows the relay outage and recovers after the relay restarts",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const mesh = await startMesh();
    try {
      await withBrowser(async (page) => {
        await page.goto(mesh.dash.url + "/");
        await page.waitForSelector('#relay-status[data-state="connected"]', { timeout: 15_000 });
        const before = await publish(mesh.relay.url, "access.intent", { tx_id: "r1" });
        await page.waitForSelector(cardFor(String(before.body.event_id)), { timeout: 5_000 });

        await mesh.relay.stop("SIGTERM");
        await page.waitForSelector('#relay-status[data-state="unreachable"]', { timeout: 20_000 });
        assert.equal(await page.textContent("#relay-status"), "relay unreachable, retrying");

        mesh.relay = await startRelayChild(mesh.relayPort, mesh.data.path);
        await page.waitForSelector('#relay-status[data-state="connected"]', { timeout: 20_000 });
        const after = await publish(mesh.relay.url, "access.intent", { tx_id: "r2" });
        await page.waitForSelector(cardFor(String(after.body.event_id)), { timeout: 5_000 });
        assert.equal(await page.locator(cardFor(String(before.body.event_id))).count(), 1);
        assert.equal(await page.locator("#cards li").count(), 2, "no duplicated cards");
      });
    } finally {
      await stopMesh(mesh);
    }
  },
});
