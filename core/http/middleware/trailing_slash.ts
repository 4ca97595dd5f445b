/**
 * A `GET` or `HEAD` for a route's path with a trailing slash (`/health/`) is answered 301 with
 * `Location` set to the path without it (the query kept), as the upstream services (Gin, and
 * FastAPI's redirect_slashes) answer: a health probe or script written against them with the
 * slash keeps working. Only when the request found no route and the path without the slash is a
 * `GET` route; everything else keeps its 404.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { TrieRouter } from "hono/router/trie-router";
import type { App, AppEnv } from "../types.ts";

/** The middleware; `app` is the app whose `GET` routes are looked up (once, at first use). */
export function redirectTrailingSlash(app: App): MiddlewareHandler<AppEnv> {
  let getRoutes: TrieRouter<true> | undefined;
  return async (c, next) => {
    await next();
    if (c.res.status !== 404 || c.error) return;
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return;
    const url = new URL(c.req.url);
    if (url.pathname.length < 2 || !url.pathname.endsWith("/")) return;
    const bare = url.pathname.replace(/\/+$/, "");
    // Only a path on this host: `//host` or `/\host` in Location would send a browser elsewhere.
    if (!/^\/[^/\\]/.test(bare)) return;
    if (!getRoutes) {
      getRoutes = new TrieRouter<true>();
      for (const route of app.routes) {
        if (route.method === "GET" && route.path !== "*" && route.path !== "/*") {
          getRoutes.add("GET", route.path, true);
        }
      }
    }
    if (getRoutes.match("GET", bare)[0].length === 0) return;
    c.res = new Response(null, { status: 301, headers: { location: bare + url.search } });
  };
}
