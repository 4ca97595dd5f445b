/**
 * The live events page under bursts, in headless Chromium against a real relay and an open
 * dashboard on loopback: a burst of events is drawn in batches bounded by the page's animation
 * frames, not one DOM update per event, keeping the row bound, the newest events in order, the
 * keyboard focus, and the reading position of a viewer scrolled down; a page given no frames (as
 * a hidden tab) draws nothing until it gets them; a stream that drops says it is reconnecting,
 * resumes without showing an event twice, and says so when events were missed meanwhile.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { publish, startRelay } from "../core/relay/relay_helpers.ts";
import { startDashboard } from "../cmd/dashboard_helpers.ts";
import { haveChromium, inPage, withChromium } from "./dashboard_mesh.ts";
import type { Service } from "../../core/http/mod.ts";

const PAGE = 10;

function burstTest(
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
      const dash = await startDashboard(relay.url, { page_size: PAGE, ...extra });
      try {
        await withChromium((browser) => fn(relay, dash, browser));
      } finally {
        await dash.close();
        await relay.close();
      }
    },
  });
}

/** Publishes `tx-{from}`..`tx-{to}` in order, each on a topic of its own. */
async function publishRange(relayUrl: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    const r = await publish(relayUrl, `sensor.t${i}`, { tx_id: `tx-${i}`, agent_id: "s", v: i });
    assert.equal(r.status, 200);
  }
}

/**
 * Starts counting, in the page: the batches of child changes of `#cards` (one MutationObserver
 * callback each) and the animation frames. A function, not a string: the CSP forbids eval in
 * the page, and evaluated functions run over the DevTools protocol.
 */
async function watchDraws(page: Page): Promise<void> {
  await page.evaluate(() => {
    // Typed by hand: the tests are checked without the DOM library.
    const w = globalThis as unknown as {
      __draws: { batches: number; frames: number };
      document: { querySelector(s: string): unknown };
      requestAnimationFrame(f: () => void): void;
      MutationObserver: new (cb: () => void) => { observe(n: unknown, o: unknown): void };
    };
    const d = w.__draws = { batches: 0, frames: 0 };
    new w.MutationObserver(() => d.batches++).observe(w.document.querySelector("#cards"), {
      childList: true,
    });
    const tick = () => {
      d.frames++;
      w.requestAnimationFrame(tick);
    };
    w.requestAnimationFrame(tick);
  });
}

async function draws(page: Page): Promise<{ batches: number; frames: number }> {
  return await inPage(page, "({ ...__draws })") as { batches: number; frames: number };
}

/** The transaction of each card, top down. */
async function shownTx(page: Page): Promise<string[]> {
  return await inPage(
    page,
    "[...document.querySelectorAll('#cards > li a.tx')].map((a) => a.textContent)",
  ) as string[];
}

burstTest(
  "browser: a burst of events is drawn once per frame, keeping the bound, the newest and the focus",
  async (relay, dash, browser) => {
    await publishRange(relay.url, 1, PAGE);
    const page = await browser.newPage();
    await page.goto(`${dash.url}/activity`);
    await page.waitForSelector("#stream-status[data-state=connected]");
    await page.focus("#cards li a[href='/tx/tx-3']");
    await watchDraws(page);
    const N = 150;
    await publishRange(relay.url, PAGE + 1, PAGE + N);
    const last = PAGE + N;
    await page.waitForSelector(`#cards li a[href='/tx/tx-${last}']`, { timeout: 20_000 });
    const { batches, frames } = await draws(page);
    // One draw per frame at most, whatever the number of events: not one per event.
    assert.ok(batches <= frames + 1, `${batches} batches of DOM changes in ${frames} frames`);
    assert.ok(batches < N / 2, `${batches} batches for ${N} events`);
    assert.equal(await page.locator("#cards > li").count(), PAGE, "the row bound holds");
    // The newest events, newest first; the focused card stays last (the ones above it gave way).
    const expected = Array.from({ length: PAGE - 1 }, (_, i) => `tx tx-${last - i}`);
    assert.deepEqual(await shownTx(page), [...expected, "tx tx-3"]);
    assert.equal(
      await inPage(page, "document.activeElement?.getAttribute('href')"),
      "/tx/tx-3",
      "the focus stayed on its link",
    );
    // Every new topic got its counter.
    await page.waitForSelector(`#counters li[data-topic='sensor.t${last}']`);
    // "Older events" goes on from the oldest of the newest cards shown: none skipped.
    const href = String(await page.getAttribute("#older", "href"));
    await page.goto(dash.url + href);
    assert.equal((await shownTx(page))[0], `tx tx-${last - (PAGE - 1)}`, href);
  },
);

burstTest(
  "browser: a page given no frames (a hidden tab) draws nothing, then the newest page at once",
  async (relay, dash, browser) => {
    const context = await browser.newContext();
    // A hidden tab gets no animation frames: here the page's frame callbacks wait while
    // `__noFrames` is set (an init script runs over the DevTools protocol, outside the CSP).
    await context.addInitScript(() => {
      const w = globalThis as unknown as {
        __noFrames: boolean;
        __release(): void;
        requestAnimationFrame(f: (t: number) => void): number;
      };
      const real = w.requestAnimationFrame.bind(w);
      let held: Array<(t: number) => void> = [];
      w.__noFrames = false;
      w.requestAnimationFrame = (f) => {
        if (!w.__noFrames) return real(f);
        held.push(f);
        return held.length;
      };
      w.__release = () => {
        w.__noFrames = false;
        for (const f of held.splice(0)) real(f);
        held = [];
      };
      // Counts the events the page's stream delivered (where its listener is called).
      const seen = globalThis as unknown as { __seen: number };
      seen.__seen = 0;
      const es = (globalThis as unknown as {
        EventSource: {
          prototype: { addEventListener(t: string, f: (e: unknown) => void, o?: unknown): void };
        };
      }).EventSource.prototype;
      const listen = es.addEventListener;
      es.addEventListener = function (t, f, o) {
        const counted = t === "message"
          ? (e: unknown) => {
            seen.__seen++;
            f.call(this, e);
          }
          : f;
        listen.call(this, t, counted, o);
      };
    });
    const page = await context.newPage();
    await page.goto(`${dash.url}/activity`);
    await page.waitForSelector("#stream-status[data-state=connected]");
    await watchDraws(page);
    await inPage(page, "__noFrames = true");
    const N = 120;
    await publishRange(relay.url, 1, N);
    await page.waitForFunction(
      (n: number) => {
        const w = globalThis as unknown as { __seen?: number };
        return (w.__seen ?? 0) >= n;
      },
      N,
      { timeout: 20_000, polling: 100 }, // rAF polling would wait for a frame
    );
    assert.equal((await draws(page)).batches, 0, "no DOM change without frames");
    await inPage(page, "__release()");
    await page.waitForSelector(`#cards li a[href='/tx/tx-${N}']`, { timeout: 20_000 });
    const expected = Array.from({ length: PAGE }, (_, i) => `tx tx-${N - i}`);
    assert.deepEqual(await shownTx(page), expected, "the newest page, newest first");
    assert.ok((await draws(page)).batches <= 2, "drawn at once");
  },
);

burstTest(
  "browser: a viewer scrolled down to read stays on the card read as events arrive above it",
  async (relay, dash, browser) => {
    await publishRange(relay.url, 1, 50);
    const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
    await page.goto(`${dash.url}/activity`);
    await page.waitForSelector("#stream-status[data-state=connected]");
    const card = "document.querySelector(\"#cards li a[href='/tx/tx-35']\").closest('li')";
    await inPage(page, `${card}.scrollIntoView()`);
    const top = async () =>
      Math.round(Number(await inPage(page, `${card}.getBoundingClientRect().top`)));
    const before = await top();
    await publishRange(relay.url, 51, 60);
    await page.waitForSelector("#cards li a[href='/tx/tx-60']");
    // The draw that added the last card also moved the page: the card read is where it was (to
    // within the pixel that rounds fractional card heights against whole scroll offsets; without
    // the anchoring it moves down by the height of ten cards).
    const after = await top();
    assert.ok(
      Math.abs(after - before) <= 1,
      `the card read stayed in place: ${before} -> ${after}`,
    );
    assert.equal(await page.locator("#cards > li").count(), 50);
  },
  { page_size: 50 },
);

/** A free loopback port in 19000-19999 (the dashboard restarts on it). */
function freeTestPort(): number {
  for (let i = 0; i < 200; i++) {
    const port = 19000 + Math.floor(Math.random() * 1000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken */ }
  }
  throw new Error("no free port in 19000-19999");
}

Deno.test({
  name: "browser: a dropped stream says it is reconnecting, resumes without duplicates, " +
    "and says when events were missed",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const relay = await startRelay();
    const port = freeTestPort();
    let dash = await startDashboard(relay.url, { port, page_size: PAGE });
    try {
      await withChromium(async (browser) => {
        await publishRange(relay.url, 1, 3);
        const page = await browser.newPage();
        await page.goto(`${dash.url}/activity`);
        await page.waitForSelector("#stream-status[data-state=connected]");
        await publishRange(relay.url, 4, 5);
        await page.waitForSelector("#cards li a[href='/tx/tx-5']");
        assert.equal(await inPage(page, "document.querySelector('#missed').textContent"), "");
        await dash.close();
        await page.waitForSelector("#stream-status[data-state=reconnecting]");
        assert.match(
          String(await inPage(page, "document.querySelector('#relay-status').textContent")),
          /reconnecting/,
        );
        // Events published while it is down; a new dashboard on the same address reads them
        // from the relay, and the page resumes after the last it showed: none lost, none twice.
        await publishRange(relay.url, 6, 8);
        dash = await startDashboard(relay.url, { port, page_size: PAGE });
        await page.waitForSelector("#stream-status[data-state=connected]", { timeout: 20_000 });
        await page.waitForSelector("#cards li a[href='/tx/tx-8']", { timeout: 20_000 });
        const upTo = (n: number) => Array.from({ length: n }, (_, i) => `tx tx-${n - i}`);
        assert.deepEqual(await shownTx(page), upTo(8));
        assert.equal(await inPage(page, "document.querySelector('#missed').textContent"), "");
        // Again, with a dashboard that holds only the newest 2 events: those between the last
        // shown and them (tx-9, tx-10) are gone, and the page says events were missed.
        await dash.close();
        await page.waitForSelector("#stream-status[data-state=reconnecting]");
        await publishRange(relay.url, 9, 12);
        dash = await startDashboard(relay.url, { port, page_size: PAGE, history: 2 });
        await page.waitForSelector("#cards li a[href='/tx/tx-12']", { timeout: 20_000 });
        await page.waitForSelector("#missed:has-text('Events were missed')");
        const shown = await shownTx(page);
        assert.equal(new Set(shown).size, shown.length, `no card twice: ${shown}`);
        assert.deepEqual(shown, ["tx tx-12", "tx tx-11", ...upTo(8)]);
      });
    } finally {
      await dash.close();
      await relay.close();
    }
  },
});
