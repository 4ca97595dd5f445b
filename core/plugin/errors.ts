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

/** Builds a failed result. */
export function failure<T>(
  type: PluginErrorType,
  message: string,
  extra: { logs?: string[]; output?: string; duration_ms?: number; truncated?: boolean } = {},
): PluginResult<T> {
  return {
    ok: false,
    error: { type, message },
    logs: extra.logs ?? [],
    ...(extra.output !== undefined ? { output: extra.output } : {}),
    duration_ms: extra.duration_ms ?? 0,
    truncated: extra.truncated ?? false,
  };
}
