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
export type { AuditReport } from "./audit.ts";
export { validatePluginConfig } from "./config.ts";
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
  PluginError,
  type PluginErrorCode,
  type PluginErrorType,
  type PluginResult,
} from "./errors.ts";
export { handleRpc, type RpcHandlers } from "./external/rpc.ts";
export { ExternalRunner, type ExternalRunnerOptions } from "./external/runner.ts";
export { sandboxUnavailable } from "./external/sandbox.ts";
export { computeGrants, type Grants, type HostCommand } from "./grants.ts";
export type { HostSpec } from "./host.ts";
export { runPluginHost } from "./host_main.ts";
export { type LoadedPlugin, loadPlugin } from "./load.ts";
export {
  isExternal,
  ManifestSchema,
  parseManifest,
  type PluginKind,
  type PluginManifest,
} from "./manifest.ts";
export { isInside } from "./paths.ts";
export type { InitFrame, WorkerPermissions } from "./protocol.ts";
export { PluginRunner, type RunnerOptions } from "./runner.ts";
export {
  SCAFFOLD_KINDS,
  type ScaffoldFiles,
  scaffoldFiles,
  type ScaffoldKind,
  standaloneSdk,
} from "./scaffold.ts";
export {
  type DigestOptions,
  type PluginDigest,
  pluginDigest,
  type PluginSignature,
  PluginSignatureError,
  readSignature,
  SIGNATURE_FILE,
  SIGNATURE_FORMAT,
  type SignatureFailure,
  signPlugin,
  type VerifiedPlugin,
  verifyPlugin,
} from "./signing.ts";
