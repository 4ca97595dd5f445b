/**
 * Hono's cookie reader, imported by a computed specifier with the first request the router
 * serves (a string-literal `import("hono/cookie")` would make Deno read Hono's registry data at
 * every start).
 * @module
 */
export { getCookie } from "hono/cookie";
