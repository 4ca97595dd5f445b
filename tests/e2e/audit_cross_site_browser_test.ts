/**
 * An audit service running open on loopback (development) against a page of another site in
 * real Chromium: a no-cors `fetch` needs no preflight, so only the service's own check of `Origin`
 * keeps a page the developer visits from appending to the ledger, where an entry stays for good.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { appendAudit, startAudit } from "../cmd/dashboard_helpers.ts";
import { tempDir } from "../helpers.ts";
import { CHROMIUM, haveChromium } from "./dashboard_mesh.ts";

Deno.test({
  name: "a page of another site cannot append to an open audit ledger",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDir();
    const { svc: ledger } = await startAudit(dir.path);
    const entry = { tx_id: "forged", event: "access.decision", actor: "policy", payload: { x: 1 } };
    const page = `<!doctype html><script>
      fetch(${JSON.stringify(`${ledger.url}/audit`)}, {
        method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
        body: ${JSON.stringify(JSON.stringify(entry))},
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
      // The upstream answer (the default compat): the transaction's entries, as an array.
      const forged = await (await fetch(`${ledger.url}/tx/forged`)).json();
      assert.deepEqual(forged, [], "no entry from the page");
      await appendAudit(ledger.url, { ...entry, tx_id: "real" });
      const real = await (await fetch(`${ledger.url}/tx/real`)).json();
      assert.equal(real.length, 1, "a client that is not a browser appends");
    } finally {
      await browser.close();
      await site.shutdown();
      await ledger.close();
      await dir.remove();
    }
  },
});
