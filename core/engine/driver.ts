/**
 * Loading a database client with the first connection that needs it.
 * @module
 */
import { ConfigError, type ConfigSource, errorMessage } from "../errors/mod.ts";

/**
 * The client module `file` (beside this one), imported by a computed specifier: Deno follows a
 * string-literal `import()` while it builds a service's graph at start and reads the registry
 * data of the npm package behind it, which only a process that connects needs. Deno keeps a
 * failed import failed for the life of the process, so every later connection reports it too.
 * @throws {ConfigError} naming `setting` (and the URL without its password, `label`) when the
 * client cannot be loaded
 */
export async function loadDriver<T>(
  file: string,
  setting: string,
  source: ConfigSource,
  label: string,
): Promise<T> {
  try {
    return await import(new URL(file, import.meta.url).href);
  } catch (err) {
    throw new ConfigError(
      setting,
      source,
      `a URL whose database client (core/engine/${file.slice(2)}) loads`,
      `${label} (the client did not load: ${errorMessage(err)})`,
      { cause: err },
    );
  }
}
