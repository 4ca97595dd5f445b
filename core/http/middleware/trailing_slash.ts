/**
 * A request for a route's path with a trailing slash (`GET /health/`, `POST /evaluate/`) is
 * redirected to the path without it (the query kept), as the upstream services answer (Gin:
 * 301 for GET, 307 otherwise; FastAPI's redirect_slashes: 307): a health probe, script or client
 * written against them with the slash keeps working. 301 for `GET` and `HEAD`, 307 (method and
 * body kept) for the others. Only when the request found no route and the path without the
 * slash is a route of that method; everything else keeps its 404.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { TrieRouter } from "hono/router/trie-router";
import type { App, AppEnv } from "../types.ts";

/** The middleware; `app` is the app whose routes are looked up (once, at first use). */
export function redirectTrailingSlash(app: App): MiddlewareHandler<AppEnv> {
  let routes: TrieRouter<true> | undefined;
  return async (c, next) => {
    await next();
    if (c.res.status !== 404 || c.error) return;
    const url = new URL(c.req.url);
    if (url.pathname.length < 2 || !url.pathname.endsWith("/")) return;
    const bare = url.pathname.replace(/\/+$/, "");
    // Only a path on this host: `//host` or `/\host` in Location would send a browser elsewhere.
    if (!/^\/[^/\\]/.test(bare)) return;
    if (!routes) {
      routes = new TrieRouter<true>();
      for (const route of app.routes) {
        // Middlewares are registered for every method; only a route's own method counts.
        if (route.method === "ALL" || route.path === "*" || route.path === "/*") continue;
        routes.add(route.method, route.path, true);
      }
    }
    const method = c.req.method === "HEAD" ? "GET" : c.req.method;
    if (routes.match(method, bare)[0].length === 0) return;
    c.res = new Response(null, {
      status: method === "GET" ? 301 : 307,
      headers: { location: bare + url.search },
    });
  };
}
