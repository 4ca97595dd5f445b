/**
 * The dashboard's routes on its Hono app: the protective headers under a strict CSP, the static
 * files, the login gate and pages, the overview, events and transactions. The server imports it
 * with the first request its app serves, so an idle dashboard that has only answered `/health`
 * has loaded neither Hono nor its pages.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { App, AppEnv } from "../http/mod.ts";
import { ErrorPage } from "./pages/error.tsx";
import { LoginPage } from "./pages/login.tsx";
import { registerDashboardRoutes, type RouteDeps } from "./routes.tsx";
import { registerStatic } from "./static.ts";

/** Content-Security-Policy of every dashboard response: same-origin only, nothing inline. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Sets the CSP and the other protective headers on every response. What a viewer was shown is
 * not kept by the browser or a proxy (`Cache-Control: no-store`), so Back after a logout asks
 * again rather than showing it from the cache; the static files and the stream keep their own.
 */
const secureHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
  c.res.headers.set("content-security-policy", CSP);
  c.res.headers.set("x-content-type-options", "nosniff");
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the
  // dashboard's own posts, which a forged post from any site can send too (see login.ts).
  c.res.headers.set("referrer-policy", "same-origin");
  c.res.headers.set("x-frame-options", "DENY");
};

/** True when `c` is a browser asking for a page (not a JSON route, the stream or a file). */
function asksForPage(c: Context<AppEnv>): boolean {
  const path = c.req.path;
  return c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html") &&
    !path.startsWith("/api/") && !path.startsWith("/static/") && path !== "/events" &&
    c.req.query("format") !== "json";
}

/**
 * A page request answered with the JSON error envelope (a 404, a mistyped transaction id, an
 * internal error) gets the error page instead, with the same status and text: a browser shows
 * what is wrong and the way back, not a JSON blob. Scripts and JSON routes keep the envelope.
 */
const errorPages: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const res = c.res;
  if (res.status < 400 || !asksForPage(c)) return;
  if (!(res.headers.get("content-type") ?? "").startsWith("application/json")) return;
  let envelope: unknown;
  try {
    envelope = await res.clone().json();
  } catch {
    return;
  }
  const field = (k: string) => {
    const v = envelope && typeof envelope === "object" ? Reflect.get(envelope, k) : undefined;
    return typeof v === "string" ? v : undefined;
  };
  const html = "<!doctype html>" + String(
    <ErrorPage
      status={res.status}
      message={field("error") ?? "the request failed"}
      requestId={field("request_id")}
    />,
  );
  const headers = new Headers(res.headers);
  headers.set("content-type", "text/html; charset=UTF-8");
  headers.delete("content-length");
  c.res = new Response(html, { status: res.status, headers });
};

/** Registers every dashboard route and middleware on `app`, in the order they apply. */
export async function registerDashboardApp(app: App, d: RouteDeps): Promise<void> {
  app.use("*", secureHeaders);
  app.use("*", errorPages);
  registerStatic(app);
  await d.auth.register(app, (p) => "<!doctype html>" + String(<LoginPage {...p} />));
  registerDashboardRoutes(app, d);
}
