/**
 * The plugin authoring contract (types only), as plugins import it: `import type { ... } from
 * "../sdk.ts"`. The types live in core/plugin; the import audit rejects a value import of this
 * file, since nothing here exists at run time.
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
export type {
  DetectFn,
  ExecuteFn,
  HealthFn,
  InitFn,
  PluginContext,
  PluginKind,
  PluginLogger,
  SendFn,
  Severity,
  TriggerEvent,
} from "../core/plugin/mod.ts";
