/**
 * A policy service running open on loopback (development) against a page of another site in real
 * Chromium: a no-cors `fetch` needs no preflight, so only the service's own check of `Origin`
 * keeps a page the developer visits from having intents decided and their decisions appended to
 * the ledger, where an entry stays for good.
 */
import assert from "node:assert/strict";
import { command as policy } from "../../cmd/policy.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { startAudit } from "../cmd/dashboard_helpers.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { postFromOtherSite } from "./cross_site.ts";
import { haveChromium } from "./dashboard_mesh.ts";

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
    try {
      await postFromOtherSite(
        `${svc.url}/evaluate`,
        JSON.stringify({ ...INTENT, tx_id: "forged" }),
      );
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
      await svc.close();
      await ledger.close();
      await dir.remove();
    }
  },
});
