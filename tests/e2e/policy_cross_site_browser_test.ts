/**
 * A policy service running open on loopback (development) against a page of another site in real
 * Chromium: a no-cors `fetch` needs no preflight, so only the service's own check of `Origin`
 * keeps a page the developer visits from having intents decided and their decisions appended to
 * the ledger, where an entry stays for good.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { command as policy } from "../../cmd/policy.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { startAudit } from "../cmd/dashboard_helpers.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { CHROMIUM, haveChromium } from "./dashboard_mesh.ts";

const INTENT = {
  subject: { enterprise: "A", id: "agent-1", roles: ["buyer"] },
  resource: { enterprise: "B", id: "catalog", scope: "read" },
  context: { device: "laptop", geo: "EU", session_risk: 42 },
};

Deno.test({
  name: "a page of another site cannot have an open policy service decide and log its intents",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir();
    const { svc: ledger } = await startAudit(dir.path);
    const svc = await policy.start(
      policy.resolve({ port: 0, reload_interval: 0, compat: "iatp", audit_url: ledger.url }),
      { log: silentLogger },
    );
    const page = `<!doctype html><script>
      fetch(${JSON.stringify(`${svc.url}/evaluate`)}, {
        method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
        body: ${JSON.stringify(JSON.stringify({ ...INTENT, tx_id: "forged" }))},
      }).finally(() => { document.title = "sent"; });
    </script>`;
    const site = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(page, { headers: { "content-type": "text/html" } }),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--host-resolver-rules=MAP evil.test 127.0.0.1",
      ],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(`http://evil.test:${site.addr.port}/`);
      await tab.waitForFunction(`document.title === "sent"`);
      // A client that is not a browser is decided and logged, after the page's post.
      const res = await fetch(`${svc.url}/evaluate`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...INTENT, tx_id: "real" }),
      });
      assert.equal(res.status, 200, await res.text());
      await waitFor(
        async () => (await (await fetch(`${ledger.url}/tx/real`)).json()).length === 1,
        20_000,
        "the real decision in the ledger",
      );
      const forged = await (await fetch(`${ledger.url}/tx/forged`)).json();
      assert.deepEqual(forged, [], "no decision for the page");
    } finally {
      await browser.close();
      await site.shutdown();
      await svc.close();
      await ledger.close();
      await dir.remove();
    }
  },
});
