/**
 * Plugin runtime (contract 3): load a plugin folder (manifest, config schema, import audit) and
 * run it in a warm pool of sandboxed `plugin-host` children with hard limits.
 *
 * @example
 * ```ts
 * const plugin = await loadPlugin("plugins/cpu-monitor");
 * const runner = new PluginRunner(plugin, { config: { threshold: 80 } });
 * const r = await runner.detect();
 * if (r.ok) console.log(r.value); else console.error(r.error.type, r.error.message);
 * await runner.close();
 * ```
 * @module
 */
export { type LoadedPlugin, loadPlugin } from "./load.ts";
export { secretValues, validatePluginConfig } from "./config.ts";
export { PluginRunner, type RunnerOptions } from "./runner.ts";
export {
  PluginError,
  type PluginErrorCode,
  type PluginErrorType,
  type PluginResult,
} from "./errors.ts";
export type { ConfigField, Limits, Permissions, PluginKind, PluginManifest } from "./manifest.ts";
export { isExternal } from "./manifest.ts";
export { computeGrants, type Grants, isCompiled } from "./grants.ts";
export { NODE_BUILTIN_ALLOW_LIST } from "./audit.ts";
export { isInside } from "./paths.ts";
export type {
  DetectFn,
  ExecuteFn,
  HealthFn,
  InitFn,
  PluginContext,
  PluginLogger,
  SendFn,
  Severity,
  TriggerEvent,
} from "./contract.ts";
export {
  pluginDigest,
  type PluginSignature,
  PluginSignatureError,
  readSignature,
  SIGNATURE_FILE,
  type SignatureFailure,
  signPlugin,
  type VerifiedPlugin,
  verifyPlugin,
} from "./signing.ts";
