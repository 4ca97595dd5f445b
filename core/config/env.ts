/** The environment as configuration reads it: permission-aware, and the data folder. @module */

/**
 * Env reader that asks for permission first, so an ungranted variable reads as unset (a
 * subcommand is granted only the variables it declares).
 *
 * @example
 * ```ts
 * permittedEnv("IATP_RELAY_PORT"); // "8005", or undefined when unset or not granted
 * ```
 */
export function permittedEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Where state lives unless configured: `$IATP_DATA_DIR`, else `data` (relative). */
export const DATA_DIR: string = permittedEnv("IATP_DATA_DIR") || "data";
