/**
 * The dashboard in headless Chromium (apt `chromium`, driven by playwright-core), launched as a
 * real child with its permission-table flags: beyond loopback it asks for a login, the
 * `#token=` fragment logs in, a viewer scoped to one topic sees only that topic, no secret value
 * reaches the page or its JSON; pause holds events until resume; a relay outage is shown and
 * recovered; 10,000 events in the store keep the page bounded; a session ended elsewhere sends
 * the live page to the login and back; live topic counters stop at the server's bound; a stream
 * refused for a viewer's or the dashboard's limit says so, and is retried until it comes back.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { generateIssuer, issueCredential } from "../../core/auth/mod.ts";
import { publish } from "../core/relay/relay_helpers.ts";
import { type ChildService, freePort, startIatpService, tempDir, waitFor } from "../helpers.ts";
import {
  haveChromium,
  inPage,
  scrollsSideways,
  seriousViolations,
  shoot,
  VIEWPORTS,
  watchedPage,
  withChromium,
} from "./dashboard_mesh.ts";

interface Mesh {
  relayPort: number;
  relay: ChildService & { url: string };
  dash: ChildService & { url: string };
  data: { path: string; remove(): Promise<void> };
  mint(sub: string, scopes: string[]): Promise<string>;
}

function startRelayChild(port: number, dataDir: string) {
  return startIatpService(["relay", "--port", String(port)], { env: { IATP_DATA_DIR: dataDir } });
}

/** A relay and a dashboard on 0.0.0.0 that requires a login by this test's issuer. */
async function startMesh(extra: string[] = []): Promise<Mesh> {
  const data = await tempDir();
  const relayPort = freePort();
  const relay = await startRelayChild(relayPort, data.path);
  const issuer = await generateIssuer();
  const dash = await startIatpService(
    [
      "dashboard",
      ...["--host", "0.0.0.0", "--port", "0", "--relay-url", relay.url, "--retry", "300ms"],
      ...["--auth-keys", issuer.publicKey, ...extra],
    ],
    { env: { IATP_DATA_DIR: data.path } },
  );
  return {
    relayPort,
    relay,
    dash,
    data,
    mint: (sub, scopes) => issueCredential(issuer, { sub, scopes }),
  };
}

async function stopMesh(m: Mesh) {
  await m.dash.stop();
  await m.relay.stop();
  await m.data.remove();
}

/**
 * A browser test against a dashboard and relay of its own (started with `extra` dashboard flags),
 * stopped when it ends; skipped without Chromium.
 */
function meshTest(
  name: string,
  fn: (mesh: Mesh, browser: Browser) => Promise<void>,
  extra: string[] = [],
) {
  Deno.test({
    name,
    ignore: !haveChromium,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const mesh = await startMesh(extra);
      try {
        await withChromium((browser) => fn(mesh, browser));
      } finally {
        await stopMesh(mesh);
      }
    },
  });
}

async function loginByFragment(page: Page, base: string, credential: string, to = "/") {
  await page.goto(`${base}/login?next=${encodeURIComponent(to)}#token=${credential}`);
  await page.waitForURL(`${base}${to}`, { timeout: 15_000 });
}

const cardFor = (eventId: string) => `#cards li[data-event-id="${eventId}"]`;
const SECRET_VALUES = ["hunter2-pw", "tok-3f9a", "cred-pw-77", "sk-live-abc"];
const SECRETS = {
  password: "hunter2-pw",
  token: "tok-3f9a",
  credentials: { password: "cred-pw-77" },
  api_key: "sk-live-abc",
};

meshTest(
  "browser: a login beyond loopback; a viewer scoped to one topic; secrets masked",
  async (mesh, browser) => {
    const { page, errors } = await watchedPage(browser, VIEWPORTS.desktop);
    await page.goto(`${mesh.dash.url}/activity`);
    assert.match(page.url(), /\/login\?next=%2Factivity$/, "beyond loopback, a login first");
    await page.fill("#credential", "not-a-credential");
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("#login-error:has-text('not accepted')");
    assert.deepEqual(await seriousViolations(page), []);
    await shoot(page, "login-desktop");

    await publish(mesh.relay.url, "access.intent", { tx_id: "tx-hidden", ...SECRETS });
    const seen = await publish(mesh.relay.url, "sensor.login", { agent_id: "s1", ...SECRETS });
    const viewer = await mesh.mint("sensor-viewer", ["dashboard:view", "subscribe:sensor.*"]);
    await loginByFragment(page, mesh.dash.url, viewer, "/activity");
    assert.ok(!page.url().includes("token="), "the fragment left the address bar");
    assert.equal(await inPage(page, "location.hash"), "");
    await page.waitForSelector(cardFor(String(seen.body.event_id)), { timeout: 15_000 });
    const live = await publish(mesh.relay.url, "sensor.cpu", { agent_id: "s1", ...SECRETS });
    await publish(mesh.relay.url, "access.decision", { tx_id: "tx-hidden", decision: "deny" });
    await page.waitForSelector(cardFor(String(live.body.event_id)), { timeout: 5_000 });
    for (const d of await page.locator("details.raw").all()) await d.click();
    const topics = await page.locator("#cards li").evaluateAll((els) =>
      els.map((e) => e.getAttribute("data-topic"))
    );
    assert.deepEqual(topics, ["sensor.cpu", "sensor.login"], "only the viewer's topic");
    const texts = [await page.content()];
    for (const path of ["/", "/api/events", "/api/overview", "/tx/tx-hidden?format=json"]) {
      const res = await page.request.get(mesh.dash.url + path);
      assert.equal(res.status(), 200, path);
      texts.push(await res.text());
    }
    for (const text of texts) {
      for (const v of SECRET_VALUES) assert.ok(!text.includes(v), `secret ${v} shown`);
      assert.ok(!text.includes('tx-hidden","decision'), "no access.* event reached it");
    }
    assert.ok(texts[0].includes("[REDACTED]"), "masked values are marked");
    await page.click("form.logout button");
    await page.waitForURL(/\/login$/);
    const after = await page.request.get(`${mesh.dash.url}/api/state`);
    assert.equal(after.status(), 401, "logged out");
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
  },
);

meshTest(
  "browser: after a logout, Back shows no page of the session from the browser's cache",
  async (mesh, browser) => {
    const { page } = await watchedPage(browser, VIEWPORTS.desktop);
    const marker = "cached-marker-4242";
    const ev = await publish(mesh.relay.url, "sensor.cpu", { agent_id: marker });
    await publish(mesh.relay.url, "access.decision", { tx_id: "tx-back-1", agent_id: marker });
    const viewer = await mesh.mint("ops", ["dashboard:view", "subscribe:*"]);
    await loginByFragment(page, mesh.dash.url, viewer, "/activity");
    await page.waitForSelector(cardFor(String(ev.body.event_id)), { timeout: 15_000 });
    await page.goto(`${mesh.dash.url}/tx/tx-back-1`);
    assert.ok((await page.content()).includes(marker));
    await page.click("form.logout button");
    await page.waitForURL(/\/login$/);
    // Each step back asks the dashboard again, which sends it to the login: the pages the
    // session saw are not kept by the browser (Cache-Control: no-store).
    for (const was of ["/tx/tx-back-1", "/activity"]) {
      await page.goBack();
      await page.waitForLoadState();
      assert.match(page.url(), /\/login\?next=/, `back to ${was}`);
      assert.ok(!(await page.content()).includes(marker), `${was} shown after logout`);
    }
    for (const path of ["/", "/activity", "/api/events", "/tx/tx-back-1?format=json"]) {
      const res = await page.request.get(mesh.dash.url + path, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      assert.equal(res.status(), 200, path);
      assert.equal(res.headers()["cache-control"], "no-store", path);
    }
  },
);

meshTest(
  "browser: pause holds new events until resume; filters combine in the URL",
  async (mesh, browser) => {
    const { page } = await watchedPage(browser, VIEWPORTS.desktop);
    const all = await mesh.mint("ops", ["dashboard:view", "subscribe:*"]);
    await loginByFragment(page, mesh.dash.url, all, "/activity");
    await page.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
    const a = await publish(mesh.relay.url, "sensor.cpu", { agent_id: "s1", v: 1 });
    const b = await publish(mesh.relay.url, "status.alerts", { host: "h1", message: "disk" });
    await page.waitForSelector(cardFor(String(b.body.event_id)), { timeout: 5_000 });
    await page.click("#pause");
    const held = [];
    for (let i = 0; i < 3; i++) {
      held.push(await publish(mesh.relay.url, "sensor.cpu", { agent_id: "s1", v: 10 + i }));
    }
    await page.waitForSelector("#held:has-text('3 new events held')", { timeout: 5_000 });
    for (const h of held) {
      assert.equal(await page.locator(cardFor(String(h.body.event_id))).count(), 0);
    }
    await page.click("#pause");
    for (const h of held) await page.waitForSelector(cardFor(String(h.body.event_id)));
    assert.equal(await page.textContent("#held"), "");

    await page.selectOption("#f-topic", "sensor.cpu");
    await page.fill("#f-agent", "s1");
    await page.click("#filters button[type=submit]");
    await page.waitForURL(/topic=sensor.cpu/);
    assert.match(page.url(), /agent=s1/, "both filters kept in the URL");
    assert.equal(await page.locator(cardFor(String(b.body.event_id))).count(), 0);
    assert.equal(await page.locator(cardFor(String(a.body.event_id))).count(), 1);
    await page.reload();
    assert.equal(await page.inputValue("#f-agent"), "s1", "a shared URL keeps the filters");
  },
);

meshTest(
  "browser: the relay outage is shown once and recovered from without duplicates",
  async (mesh, browser) => {
    const { page } = await watchedPage(browser, VIEWPORTS.desktop);
    await loginByFragment(
      page,
      mesh.dash.url,
      await mesh.mint("ops", ["dashboard:view", "subscribe:*"]),
      "/activity",
    );
    await page.waitForSelector('#relay-status[data-state="connected"]', { timeout: 15_000 });
    const before = await publish(mesh.relay.url, "access.intent", { tx_id: "r1" });
    await page.waitForSelector(cardFor(String(before.body.event_id)), { timeout: 5_000 });
    await mesh.relay.stop("SIGTERM");
    await page.waitForSelector('#relay-status[data-state="unreachable"]', { timeout: 20_000 });
    assert.equal(await page.textContent("#relay-status"), "relay unreachable, retrying");
    assert.equal(
      await page.locator(".status").count(),
      1,
      "one indicator, never red next to green",
    );
    mesh.relay = await startRelayChild(mesh.relayPort, mesh.data.path);
    await page.waitForSelector('#relay-status[data-state="connected"]', { timeout: 20_000 });
    const after = await publish(mesh.relay.url, "access.intent", { tx_id: "r2" });
    await page.waitForSelector(cardFor(String(after.body.event_id)), { timeout: 5_000 });
    assert.equal(await page.locator("#cards li").count(), 2, "no duplicated cards");
  },
);

meshTest(
  "browser: 10,000 events in the store keep the page bounded and paged",
  async (mesh, browser) => {
    const total = 10_000;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const n = next++;
        const topic = n % 2 ? "iatp.trace" : "access.decision";
        const payload = n % 2
          ? { agent_id: `agent-${n % 7}`, trace_id: `t-${n}`, type: "blocked", decision: "block" }
          : { tx_id: `tx-${n}`, decision: n % 4 ? "allow" : "deny" };
        const r = await publish(mesh.relay.url, topic, payload);
        assert.equal(r.status, 200);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const all = await mesh.mint("ops", ["dashboard:view", "subscribe:*"]);
    const auth = { authorization: `Bearer ${all}` };
    await waitFor(
      async () => {
        const s = await (await fetch(`${mesh.dash.url}/api/state`, { headers: auth })).json();
        return s.events === total;
      },
      60_000,
      "10,000 events in the dashboard",
    );
    const { page, errors } = await watchedPage(browser, VIEWPORTS.desktop);
    await loginByFragment(page, mesh.dash.url, all, "/activity");
    assert.equal(await page.locator("#cards li").count(), 50, "one page of cards");
    const nodes = Number(await inPage(page, 'document.querySelectorAll("*").length'));
    assert.ok(nodes < 2_000, `bounded DOM: ${nodes} elements`);
    await page.click("#older");
    await page.waitForURL(/before=/);
    assert.equal(await page.locator("#cards li").count(), 50, "the next page");
    await page.goto(`${mesh.dash.url}/activity?tx=tx-9998`);
    assert.equal(await page.locator("#cards li").count(), 1, "search finds one among 10,000");
    await page.goto(`${mesh.dash.url}/`);
    assert.equal(await page.textContent('#totals li[data-kind="block"] .count'), "5000");
    assert.equal(await page.locator("#agents tbody tr").count(), 7);
    assert.ok(!(await scrollsSideways(page)));
    assert.deepEqual(errors, []);
  },
  ["--history", "10000"],
);

// The server ends a logged-out viewer's stream at its next heartbeat.
meshTest(
  "browser: a session ended elsewhere sends the live page to the login, and back after it",
  async (mesh, browser) => {
    const { page, errors } = await watchedPage(browser, VIEWPORTS.desktop);
    const viewer = await mesh.mint("ops", ["dashboard:view", "subscribe:*"]);
    const where = "/activity?topic=sensor.cpu&agent=s1";
    await loginByFragment(page, mesh.dash.url, viewer, where);
    await page.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
    // A logout in another tab of the same browser ends the session of both.
    const other = await page.context().newPage();
    await other.goto(`${mesh.dash.url}/activity`);
    await other.click("form.logout button");
    await other.waitForURL(/\/login$/);
    await page.waitForURL(/\/login\?/, { timeout: 15_000 });
    assert.equal(
      new URL(page.url()).searchParams.get("next"),
      where,
      "the login keeps where the viewer was",
    );
    await page.fill("#credential", viewer);
    await page.click("#login-form button[type=submit]");
    await page.waitForURL(`${mesh.dash.url}${where}`, { timeout: 15_000 });
    await page.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
  },
  ["--heartbeat", "200ms"],
);

meshTest(
  "browser: live topic counters and filter choices stop at the topics the server counts",
  async (mesh, browser) => {
    const { page, errors } = await watchedPage(browser, VIEWPORTS.desktop);
    const all = await mesh.mint("ops", ["dashboard:view", "subscribe:*"]);
    await loginByFragment(page, mesh.dash.url, all, "/activity");
    await page.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
    const max = Number(await page.getAttribute("#counters", "data-max"));
    assert.ok(max >= 1, `the page names the server's bound: ${max}`);
    // `max` new topics arrive live, then more; the last one published is the last shown.
    let next = 0;
    const worker = async () => {
      while (next < max) {
        const r = await publish(mesh.relay.url, `sensor.t${next++}`, { agent_id: "s1" });
        assert.equal(r.status, 200);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    let last;
    for (let i = 0; i < 5; i++) {
      last = await publish(mesh.relay.url, `sensor.beyond${i}`, { agent_id: "s1" });
    }
    await page.waitForSelector(cardFor(String(last!.body.event_id)), { timeout: 30_000 });
    const rows = await page.locator("#counters li").evaluateAll((els) =>
      els.map((e) => [e.getAttribute("data-topic"), e.querySelector(".count")?.textContent])
    );
    assert.equal(rows.length, max, "no row beyond the bound");
    assert.equal(await page.locator("#f-topic option").count(), max + 1, "all topics + each");
    const state = await (await page.request.get(`${mesh.dash.url}/api/state`)).json();
    assert.deepEqual(
      Object.fromEntries(rows),
      Object.fromEntries(Object.entries(state.counts).map(([t, n]) => [t, String(n)])),
      "the page counts what the server counts",
    );
    assert.ok(!rows.some(([t]) => t?.startsWith("sensor.beyond")));
    assert.deepEqual(errors, []);
  },
);

meshTest(
  "browser: a stream refused for a viewer's or the dashboard's limit says so and comes back",
  async (mesh, browser) => {
    const ops = await mesh.mint("ops", ["dashboard:view", "subscribe:*"]);
    const { page: first, errors } = await watchedPage(browser, VIEWPORTS.desktop);
    await loginByFragment(first, mesh.dash.url, ops, "/activity");
    await first.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
    // A second tab of the same viewer, beyond max_viewer_streams.
    const second = await first.context().newPage();
    await second.goto(`${mesh.dash.url}/activity`);
    await second.waitForSelector('#stream-status[data-state="refused"]', { timeout: 15_000 });
    assert.match(
      String(await second.textContent("#stream-status")),
      /^too many live streams for this viewer: close other tabs of the dashboard; retrying in \d+ s$/,
    );
    // Another viewer takes the last slot; a third is beyond max_clients.
    const { page: other } = await watchedPage(browser, VIEWPORTS.desktop);
    await loginByFragment(
      other,
      mesh.dash.url,
      await mesh.mint("b", ["dashboard:view"]),
      "/activity",
    );
    await other.waitForSelector('#stream-status[data-state="connected"]', { timeout: 15_000 });
    const { page: third } = await watchedPage(browser, VIEWPORTS.desktop);
    await loginByFragment(
      third,
      mesh.dash.url,
      await mesh.mint("c", ["dashboard:view", "subscribe:*"]),
      "/activity",
    );
    await third.waitForSelector('#stream-status[data-state="refused"]', { timeout: 15_000 });
    assert.match(
      String(await third.textContent("#stream-status")),
      /^service unavailable; retrying in \d+ s$/,
    );
    // Events published meanwhile reach the refused pages once they are back, once each.
    const during = await publish(mesh.relay.url, "sensor.cpu", { agent_id: "s1", v: 1 });
    await first.close();
    await other.close();
    for (const p of [second, third]) {
      await p.waitForSelector('#stream-status[data-state="connected"]', { timeout: 40_000 });
      await p.waitForSelector(cardFor(String(during.body.event_id)), { timeout: 5_000 });
    }
    const after = await publish(mesh.relay.url, "sensor.cpu", { agent_id: "s1", v: 2 });
    for (const p of [second, third]) {
      await p.waitForSelector(cardFor(String(after.body.event_id)), { timeout: 5_000 });
      const ids = await p.locator("#cards li").evaluateAll((els) =>
        els.map((e) => e.getAttribute("data-event-id"))
      );
      assert.equal(new Set(ids).size, ids.length, "no card twice");
    }
    assert.deepEqual(errors.filter((e) => !/429|503/.test(e)), []);
  },
  ["--max-viewer-streams", "1", "--max-clients", "2"],
);
