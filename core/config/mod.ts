/**
 * Layered configuration: built-in defaults < YAML file (`--config PATH`) < environment < flags.
 *
 * A config is declared once as a {@linkcode Shape} of typed fields; the same declaration gives
 * the flag parser, the env var names, the usage text, the checks and the paths the
 * launcher grants. One naming scheme: a key `a.b_c` of command `x` is the flag `--a-b-c` and the
 * env var `IATP_X_A_B_C`; an upstream system's names and deprecated names are declared as
 * aliases of a key, never as a second spelling of it. Every error is a
 * {@linkcode ConfigError} naming the key, its source (file:line, env var or flag), what was
 * expected and what was found.
 *
 * @example
 * ```ts
 * const spec = defineConfig({
 *   command: "relay", summary: "SSE pub/sub",
 *   fields: { port: port({ help: "listen port", default: 8005 }) },
 * });
 * const result = await spec.parse(["--port", "9000"]);
 * ```
 * @module
 */

export {
  type Config,
  type ConfigSpec,
  type DeepPartial,
  defineConfig,
  formatConfigError,
  type Loaded,
  type ParseOptions,
  type SourceMap,
} from "./define.ts";
export { DATA_DIR, permittedEnv } from "./env.ts";
export {
  type Alias,
  type AliasMap,
  type AliasName,
  type AliasNames,
  envPrefixOf,
  GLOBAL_ENV,
  type Leaf,
} from "./leaves.ts";
export { lateImport } from "./late_import.ts";
export { secretSetting, secretShape, withoutUrlSecrets } from "./pick.ts";
export {
  explainStartFailure,
  fileInUseError,
  newerSchemaError,
  type StartContext,
} from "./explain.ts";
export { lockWriter, openLocked } from "./writer_lock.ts";
export { refuseNewerSchema, stampSchema } from "./schema_version.ts";
export { getIn } from "./file.ts";
export {
  createPrivateFile,
  ensureDir,
  ensureParentDir,
  filePath,
  joinPath,
  normalizePath,
  type OpenFolder,
  parentDir,
  PRIVATE_FILE_MODE,
  resolvePath,
} from "./folder.ts";
export {
  FlagError,
  flagErrorLine,
  type FlagOption,
  type FlagValue,
  type FlagValues,
  parseArgv,
  type ParsedFlags,
  parseFlags,
} from "./argv.ts";
export {
  decodeUtf8,
  fileReadTimeout,
  FileTooLargeError,
  MAX_SETTING_FILE_BYTES,
  NotUtf8Error,
  PipeNotReadAheadError,
  readBytesUpTo,
  readBytesWithin,
  readFileRefsAhead,
  readPipeAhead,
  readTextUpTo,
  readTextWithin,
  ReadTimeoutError,
  type ReadWithinOptions,
  requireRegularFile,
  unreadableWhy,
} from "./read_bounded.ts";
export type { ExpandOptions } from "./expand.ts";
export { didYouMean } from "./expand.ts";
export {
  bool,
  bytes,
  check,
  type Checked,
  custom,
  duration,
  type Field,
  type FieldOptions,
  fileRefGrants,
  host,
  HOST_PATTERN,
  type Infer,
  int,
  list,
  MAX_AGE_MS,
  MAX_TIMER_MS,
  num,
  oneOf,
  path,
  type PathAccess,
  type PathGrant,
  port,
  type Section,
  section,
  type Shape,
  str,
  textLength,
  url,
  type Validator,
} from "./fields.ts";
export type { EnvReader } from "./file.ts";
export { formatBytes, formatDuration, parseDuration } from "./units.ts";
