/**
 * The plugin authoring contract (types only): what a plugin module exports and what it is given.
 * Plugins see it through plugins/sdk.ts, which they import with `import type` only (the import
 * audit rejects value imports from it, since nothing here exists at run time).
 *
 * @example
 * ```ts
 * import type { PluginContext, TriggerEvent } from "../sdk.ts";
 * export function detect(ctx: PluginContext): TriggerEvent[] {
 *   ctx.log.info("checking");
 *   return [];
 * }
 * ```
 * @module
 */
import type { PluginKind } from "./manifest.ts";

export type { PluginKind };

/** Severity of a trigger event. */
export type Severity = "low" | "medium" | "high" | "critical";

/** One event a trigger plugin reports. */
export interface TriggerEvent {
  /** Unique per event (e.g. a UUID). */
  id: string;
  /** Dotted type, e.g. `cpu.high`. */
  type: string;
  /** What produced it, usually the plugin id. */
  source: string;
  /** RFC 3339 UTC timestamp. */
  timestamp: string;
  severity: Severity;
  data: Record<string, unknown>;
  tags: string[];
  /** Free-form context (plugin id, version, host), as Stavily trigger events carry. */
  metadata?: Record<string, unknown>;
}

/** The plugin's logger: lines go back to the agent, scrubbed of config secrets by the runtime. */
export interface PluginLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** What every plugin function is given. */
export interface PluginContext<C = Record<string, unknown>> {
  /** The validated config, defaults applied. */
  config: C;
  log: PluginLogger;
  /** The plugin's manifest id and version. */
  plugin: { id: string; version: string; kind: PluginKind };
}

/** A trigger's detect: an array of events, or an async iterator of them (collected, bounded). */
export type DetectFn<C = Record<string, unknown>> = (
  ctx: PluginContext<C>,
) => TriggerEvent[] | Promise<TriggerEvent[]> | AsyncIterable<TriggerEvent>;

/** An action's execute: any JSON result. */
export type ExecuteFn<C = Record<string, unknown>, R = unknown> = (
  ctx: PluginContext<C>,
  request: R,
) => unknown | Promise<unknown>;

/** An output's send: delivers data somewhere; may return a JSON receipt. */
export type SendFn<C = Record<string, unknown>, D = unknown> = (
  ctx: PluginContext<C>,
  data: D,
) => unknown | Promise<unknown>;

/** Optional one-time setup, called with the validated config before the first call. */
export type InitFn<C = Record<string, unknown>> = (config: C) => void | Promise<void>;

/** Optional health probe; any JSON value. Default when absent: `{status: "ok"}`. */
export type HealthFn = () => unknown | Promise<unknown>;
