/**
 * `import()` by a computed specifier, for code an agent loads with its first use (a plugin, an
 * instruction, a message): Deno follows every string-literal `import()` while it builds the
 * graph at start, and with it reads the registry data of each npm package that module reaches
 * (about 2.8 MB of an idle agent for zod, yaml and es-module-lexer), although nothing of the
 * module runs until it is called. `--allow-read` of the checkout covers the load; a compiled
 * binary embeds the module (scripts/compile includes core/).
 * @module
 */

/**
 * The module at `path` (relative to core/agents), imported now; the caller names its type.
 * @throws {Error} whatever loading or evaluating the module throws
 * @example
 * ```ts
 * const { runInstruction } = await lateImport<typeof import("./executor.ts")>("./executor.ts");
 * ```
 */
export function lateImport<T>(path: string): Promise<T> {
  return import(new URL(path, import.meta.url).href);
}
