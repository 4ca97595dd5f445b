/**
 * `import()` by a computed specifier, for code a service loads with its first use (a plugin, an
 * instruction, a command, a message): Deno follows every string-literal `import()` while it
 * builds the graph at start, and with it reads the registry data of each npm package that module
 * reaches (zod's alone is about 2 MB of an idle service), although nothing of the module runs
 * until it is called. Deno asks for read access to a module outside the graph it built at start,
 * so a service that loads code late reads the checkout (`$ROOT` on its line of
 * cmd/permissions.txt; `$ROOT/core` for the audit service and the dashboard); a compiled binary embeds the module (scripts/compile includes core/).
 * @module
 */

/**
 * The module at `path`, relative to `base` (the caller's `import.meta.url`), imported now; the
 * caller names its type.
 * @throws {Error} whatever loading or evaluating the module throws
 * @example
 * ```ts
 * const { runInstruction } = await lateImport<typeof import("./executor.ts")>(
 *   "./executor.ts",
 *   import.meta.url,
 * );
 * ```
 */
export function lateImport<T>(path: string, base: string): Promise<T> {
  return import(new URL(path, base).href);
}
