/**
 * Layered configuration: built-in defaults < YAML file (`--config PATH`) < environment < flags.
 *
 * A config is declared once as a {@linkcode Shape} of typed fields; the same declaration gives
 * the flag parser, the env var names, the usage text and the zod validation. Every error is a
 * {@linkcode ConfigError} naming the key, its source (file:line, env var or flag), what was
 * expected and what was found.
 *
 * @example
 * ```ts
 * const spec = defineConfig({
 *   command: "relay", summary: "SSE pub/sub", envPrefix: "IATP_RELAY_",
 *   fields: { port: port({ help: "listen port", default: 8005 }) },
 * });
 * const result = spec.parse(["--port", "9000"]);
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
export type { ExpandOptions } from "./expand.ts";
export {
  bool,
  bytes,
  custom,
  duration,
  type Field,
  type FieldOptions,
  type Infer,
  int,
  list,
  num,
  oneOf,
  parseDuration,
  port,
  type Section,
  section,
  type Shape,
  str,
  url,
} from "./fields.ts";
export type { EnvReader } from "./file.ts";
