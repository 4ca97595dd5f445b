/**
 * A page of another site (`http://evil.test`, served on loopback) that a real Chromium visits and
 * that posts `body` as `text/plain` with a no-cors `fetch` to `url`: the post a browser sends
 * without a preflight, which only the service's own check of `Origin` can refuse.
 * @module
 */
import { launchChromium } from "./dashboard_mesh.ts";

/** Has Chromium visit a page of another site that posts `body` to `url`; resolves once sent. */
export async function postFromOtherSite(url: string, body: string): Promise<void> {
  const page = `<!doctype html><script>
    fetch(${JSON.stringify(url)}, {
      method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
      body: ${JSON.stringify(body)},
    }).finally(() => { document.title = "sent"; });
  </script>`;
  const site = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(page, { headers: { "content-type": "text/html" } }),
  );
  const browser = await launchChromium(["evil.test"]);
  try {
    const tab = await browser.newPage();
    await tab.goto(`http://evil.test:${site.addr.port}/`);
    await tab.waitForFunction(`document.title === "sent"`);
  } finally {
    await browser.close();
    await site.shutdown();
  }
}
