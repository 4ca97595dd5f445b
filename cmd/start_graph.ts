/**
 * For the services whose line in cmd/permissions.txt may not read the checkout (`audit`,
 * `dashboard`): puts the modules that core/http's server factory (the router, with hono) and
 * core/config (the YAML parser) import by a computed specifier into their start graph, where Deno
 * loads them later without a read permission. The other services read the checkout, and leave
 * them out of theirs: Deno reads the registry data of every npm package its start graph reaches
 * (about 1 MB of an idle sidecar for hono and yaml). The function is never called.
 * @module
 */

/** String-literal `import()`s, which Deno follows while it builds the graph at start. */
export function inStartGraph(): Promise<unknown>[] {
  return [import("../core/http/app.ts"), import("../core/config/yaml.ts")];
}
