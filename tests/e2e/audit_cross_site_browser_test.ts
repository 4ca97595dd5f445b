/**
 * An audit service running open on loopback (development) against a page of another site in
 * real Chromium: a no-cors `fetch` needs no preflight, so only the service's own check of `Origin`
 * keeps a page the developer visits from appending to the ledger, where an entry stays for good.
 */
import assert from "node:assert/strict";
import { appendAudit, startAudit } from "../cmd/dashboard_helpers.ts";
import { tempDir } from "../helpers.ts";
import { postFromOtherSite } from "./cross_site.ts";
import { haveChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "a page of another site cannot append to an open audit ledger",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir();
    const { svc: ledger } = await startAudit(dir.path);
    const entry = { tx_id: "forged", event: "access.decision", actor: "policy", payload: { x: 1 } };
    try {
      await postFromOtherSite(`${ledger.url}/audit`, JSON.stringify(entry));
      // The upstream answer (the default compat): the transaction's entries, as an array.
      const forged = await (await fetch(`${ledger.url}/tx/forged`)).json();
      assert.deepEqual(forged, [], "no entry from the page");
      await appendAudit(ledger.url, { ...entry, tx_id: "real" });
      const real = await (await fetch(`${ledger.url}/tx/real`)).json();
      assert.equal(real.length, 1, "a client that is not a browser appends");
    } finally {
      await ledger.close();
      await dir.remove();
    }
  },
});
