/**
 * The dashboard's browser files, served same-origin under `/static/` with the layout they have
 * here (`/static/client/overview.js` imports `../vendor/uplot/uPlot.esm.js`); the CSP allows no
 * inline script or style and no other origin. They are real files under core/dashboard/client/,
 * checked by `deno fmt`, `deno lint` and `deno check`, and imported here as text so
 * `deno compile` embeds them and the dashboard needs no file-read permission. uPlot is vendored
 * from npm (see vendor/uplot/README.md).
 * @module
 */
import appCss from "./client/app.css" with { type: "text" };
import commonJs from "./client/common.js" with { type: "text" };
import viewsCss from "./client/views.css" with { type: "text" };
import eventsJs from "./client/events.js" with { type: "text" };
import favicon from "./client/favicon.svg" with { type: "text" };
import loginJs from "./client/login.js" with { type: "text" };
import overviewJs from "./client/overview.js" with { type: "text" };
import pageJs from "./client/page.js" with { type: "text" };
import uplotCss from "./vendor/uplot/uPlot.min.css" with { type: "text" };
import uplotJs from "./vendor/uplot/uPlot.esm.js" with { type: "text" };
import uplotLicense from "./vendor/uplot/LICENSE" with { type: "text" };
import { HttpError } from "../errors/mod.ts";
import type { App } from "../http/mod.ts";

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** Served path (under /static/) -> body and content type. */
export const STATIC_FILES: ReadonlyMap<string, { body: string; type: string }> = new Map([
  ["client/app.css", { body: appCss, type: CSS }],
  ["client/views.css", { body: viewsCss, type: CSS }],
  ["client/common.js", { body: commonJs, type: JS }],
  ["client/events.js", { body: eventsJs, type: JS }],
  ["client/login.js", { body: loginJs, type: JS }],
  ["client/overview.js", { body: overviewJs, type: JS }],
  ["client/page.js", { body: pageJs, type: JS }],
  ["client/favicon.svg", { body: favicon, type: "image/svg+xml" }],
  ["vendor/uplot/uPlot.esm.js", { body: uplotJs, type: JS }],
  ["vendor/uplot/uPlot.min.css", { body: uplotCss, type: CSS }],
  ["vendor/uplot/LICENSE", { body: uplotLicense, type: "text/plain; charset=utf-8" }],
]);

/** Registers `/static/*` and `/favicon.ico` (the SVG icon). */
export function registerStatic(app: App): void {
  app.get("/static/*", (c) => {
    const file = STATIC_FILES.get(c.req.path.slice("/static/".length));
    if (!file) throw new HttpError(404, "not found");
    return c.body(file.body, 200, { "content-type": file.type, "cache-control": "no-cache" });
  });
  app.get("/favicon.ico", (c) => {
    const icon = STATIC_FILES.get("client/favicon.svg")!;
    return c.body(icon.body, 200, {
      "content-type": icon.type,
      "cache-control": "public, max-age=86400",
    });
  });
}
