/**
 * The mesh the dashboard browser tests look at: `iatp up`'s services in-process (relay, audit,
 * policy, a trusted and an untrusted sidecar before the demo agent, sensor, action) with demo
 * traffic, and the dashboard as a real child process with its permission-table flags, listening
 * on 0.0.0.0 behind a login, polling every service's health. Plus Chromium and screenshots.
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { command as up, type Mesh } from "../../cmd/up.ts";
import { issueCredential } from "../../core/auth/mod.ts";
import { quietLog } from "../core/relay/relay_helpers.ts";
import { type ChildService, ROOT, startIatpService, tempDir } from "../helpers.ts";

/** Chromium from apt (or IATP_CHROMIUM). */
export const CHROMIUM = Deno.env.get("IATP_CHROMIUM") ?? "/usr/bin/chromium";
/** True when Chromium is installed; browser tests are ignored (and say so) otherwise. */
export const haveChromium = (() => {
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

/** Where the tests save screenshots (git-ignored; CI keeps it as an artifact). */
export const SHOTS_DIR = `${ROOT}test-artifacts/dashboard`;
/** Where the docs' copies go. */
export const DOCS_IMAGES = `${ROOT}docs/images`;

/** The two viewports of the acceptance tests. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  mobile: { width: 390, height: 844 },
} as const;

/** A running mesh with its dashboard and credentials. */
export interface DashboardMesh {
  mesh: Mesh;
  dash: ChildService & { url: string };
  /** Mints a credential from the dashboard's issuer. */
  mint(sub: string, scopes: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the mesh (demo traffic every `demoMs`) and a logged-in-only dashboard over it. */
export async function startDashboardMesh(
  opts: { demoMs?: number; demo?: boolean } = {},
): Promise<DashboardMesh> {
  const data = await tempDir();
  const services = ["relay", "audit", "policy", "sidecar", "sensor", "action"];
  const ports = Object.fromEntries(
    ["relay", "policy", "audit", "sidecar", "untrusted_sidecar", "agent", "sensor", "action"]
      .map((n) => [`${n}_port`, 0]),
  );
  const mesh = await up.start(
    up.spec.resolve({
      services,
      demo: opts.demo ?? true,
      demo_interval: opts.demoMs ?? 300,
      data_dir: data.path,
      log_level: "error",
      ...ports,
    }),
    { log: quietLog },
  );
  // The dashboard trusts the mesh's own issuer and follows the relay with up's dashboard
  // credential, so viewers' credentials are minted by that issuer too.
  const issuer = mesh.credentials.issuer;
  const u = mesh.urls;
  const watched = ["policy", "audit", "sidecar", "sidecar-untrusted", "sensor", "action"]
    .filter((n) => u[n]).map((n) => `${n}=${u[n]}`);
  let dash: ChildService & { url: string };
  try {
    // The audit key is pinned (as `iatp up` pins its own audit service's), so receipts verify.
    const cp = await fetch(`${u.audit}/checkpoint`, { headers: { accept: "application/json" } });
    const { vkey } = await cp.json();
    dash = await startIatpService([
      "dashboard",
      ...["--host", "0.0.0.0", "--port", "0", "--relay-url", u.relay, "--audit-url", u.audit],
      ...["--audit-public-key", vkey],
      ...["--services", watched.join(","), "--auth-keys", issuer.publicKey],
      ...["--relay-token", mesh.credentials.file("dashboard")],
      ...["--health-interval", "500ms", "--overview-refresh", "1s", "--retry", "300ms"],
    ], { env: { IATP_DATA_DIR: data.path } });
  } catch (err) {
    await mesh.close();
    await data.remove();
    throw err;
  }
  return {
    mesh,
    dash,
    mint: (sub, scopes) => issueCredential(issuer, { sub, scopes }),
    async stop() {
      await dash.stop();
      await mesh.close();
      await data.remove();
    },
  };
}

/** A page that records console errors and page errors. */
export interface WatchedPage {
  page: Page;
  errors: string[];
}

/** Launches headless Chromium; each of `loopbackNames` resolves to 127.0.0.1 in it. */
export function launchChromium(loopbackNames: string[] = []): Promise<Browser> {
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
  if (loopbackNames.length > 0) {
    args.push(
      `--host-resolver-rules=${loopbackNames.map((n) => `MAP ${n} 127.0.0.1`).join(", ")}`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args });
}

/** Runs `fn` with a fresh Chromium; closes it afterwards. */
export async function withChromium(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const browser = await launchChromium();
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

/** A new page at `viewport` that collects console errors. */
export async function watchedPage(
  browser: Browser,
  viewport: { width: number; height: number },
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return { page, errors };
}

/** Saves a screenshot under {@linkcode SHOTS_DIR}; returns its path. */
export async function shoot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SHOTS_DIR, { recursive: true });
  const path = `${SHOTS_DIR}/${name}.png`;
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** The page scrolls sideways when its content is wider than the viewport. */
export async function scrollsSideways(page: Page): Promise<boolean> {
  return await inPage(page, "document.documentElement.scrollWidth > innerWidth") === true;
}

/** Evaluates a JS expression in the page (tests are type-checked without the DOM library). */
export function inPage(page: Page, expression: string): Promise<unknown> {
  return page.evaluate(expression);
}

/** axe-core's serious and critical violations on the current page (rule id: nodes). */
export async function seriousViolations(page: Page): Promise<string[]> {
  const source = await Deno.readTextFile(`${ROOT}node_modules/axe-core/axe.min.js`);
  // Evaluated over the DevTools protocol: an injected <script> would be refused by the CSP.
  await page.evaluate(source);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as {
      axe: {
        run(): Promise<{
          violations: Array<
            { id: string; impact: string | null; nodes: Array<{ target: string[] }> }
          >;
        }>;
      };
    }).axe;
    return await axe.run();
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
