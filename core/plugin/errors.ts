/**
 * Typed plugin errors: the failure kinds a sandboxed call can end in, and the error thrown when a
 * plugin cannot be loaded or configured.
 * @module
 */

/** How a plugin call failed (contract 3). */
export type PluginErrorType =
  | "timeout"
  | "oom"
  | "crashed"
  | "denied"
  | "invalid_output"
  | "invalid_config"
  | "error";

/** Every code a {@linkcode PluginError} can carry: call failures plus load-time problems. */
export type PluginErrorCode =
  | PluginErrorType
  | "not_found"
  | "invalid_manifest"
  | "import_denied"
  | "link_outside";

/** A plugin that cannot be loaded, configured or called; `code` says which problem. */
export class PluginError extends Error {
  override name = "PluginError";
  /**
   * @param code the problem kind
   * @param message what was wrong, naming the field or import
   * @param options `cause`: the error behind it
   */
  constructor(readonly code: PluginErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The outcome of one sandboxed call (contract 3). */
export type PluginResult<T> =
  | { ok: true; value: T; logs: string[]; duration_ms: number; truncated: boolean }
  | {
    ok: false;
    error: { type: PluginErrorType; message: string };
    logs: string[];
    output?: string;
    duration_ms: number;
    truncated: boolean;
  };

/** Manifest permissions a plugin can declare; Deno's other kinds (ffi, import) are never granted. */
const DECLARABLE = new Set(["read", "write", "net", "env", "run", "sys"]);

/**
 * Deno's refusal (`Requires read access to "/x", run again with the --allow-read flag`) in the
 * plugin author's terms: the manifest field to change, since no Deno flag reaches a plugin host.
 * Other text is returned as it is.
 * @example
 * ```ts
 * deniedText('Requires env access to "HOME", run again with the --allow-env flag');
 * // 'Requires env access to "HOME": not declared in plugin.yaml (add "HOME" to permissions.env)'
 * ```
 */
export function deniedText(message: string): string {
  return message.replace(
    /Requires (\w+) access(?: to ("[^"]*"|<\w+>))?, run again with the --allow-\w+ flag/g,
    (_all, what: string, quoted: string | undefined) => {
      const asked = `Requires ${what} access${quoted ? ` to ${quoted}` : ""}`;
      // A quoted target is what to declare; `<TMP>` or none (all of env) names no entry.
      const entry = quoted?.startsWith('"') ? `add ${quoted} to permissions.${what}` : undefined;
      if (DECLARABLE.has(what)) {
        return `${asked}: not declared in plugin.yaml (${
          entry ?? `declare the exact entries it needs under permissions.${what}`
        })`;
      }
      return what === "import"
        ? `${asked}: a plugin imports only files inside its folder`
        : `${asked}: never granted to a plugin`;
    },
  );
}

/** Builds a failed result; a `denied` message names the manifest field that would grant it. */
export function failure<T>(
  type: PluginErrorType,
  message: string,
  extra: { logs?: string[]; output?: string; duration_ms?: number; truncated?: boolean } = {},
): PluginResult<T> {
  // Without a declared `run` the host has no PATH, so Deno fails a bare command name before it
  // asks the permission: the same refusal, worded by the lookup.
  const spawn = type === "error" && /^Failed to spawn '([^']+)': no path to search/.exec(message);
  if (spawn) {
    type = "denied";
    message = `${message}: not declared in plugin.yaml (add "${spawn[1]}" to permissions.run)`;
  }
  if (type === "denied") message = deniedText(message);
  return {
    ok: false,
    error: { type, message },
    logs: extra.logs ?? [],
    ...(extra.output !== undefined ? { output: extra.output } : {}),
    duration_ms: extra.duration_ms ?? 0,
    truncated: extra.truncated ?? false,
  };
}
