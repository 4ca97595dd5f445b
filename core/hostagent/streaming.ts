/**
 * Hono's SSE helper, imported by a computed specifier with the status agent's routes (a
 * string-literal `import("hono/streaming")` would make Deno read Hono's registry data, and start
 * its npm resolution, at every start of either host agent).
 * @module
 */
export { streamSSE } from "hono/streaming";
