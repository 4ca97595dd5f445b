/**
 * The plugin manifest (`plugin.yaml`): schema, defaults and parsing, with errors naming the field.
 * @module
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { PluginError } from "./errors.ts";
import { fromUpstreamManifest, isUpstreamManifest } from "./upstream_manifest.ts";
import { errorMessage } from "../errors/mod.ts";

/** Runtimes a plugin may use: Deno (in-process sandbox) or an external one under bubblewrap. */
const RUNTIMES = ["deno", "python"] as const;
/** How an external plugin talks: line JSON on stdin/stdout, argv + input.json, or argv + the agent's JSON-RPC socket. */
export const PROTOCOLS = ["lines", "argv", "rpc"] as const;

/** Manifest id shape: lower-case, digits and dashes, 2-64 chars. */
export const PLUGIN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,63}$/;
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** Default and ceiling for `limits.timeout_ms`. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** Largest accepted `limits.timeout_ms` (one hour). */
export const MAX_TIMEOUT_MS = 3_600_000;
/** Default V8 heap cap for a plugin, in MiB. */
const DEFAULT_MEMORY_MB = 128;
/** Default bound on a call's output (result JSON, and printed bytes), in bytes. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** Largest accepted `limits.max_output_bytes`. */
const MAX_OUTPUT_BYTES_CEILING = 64 * 1024 * 1024;
/** Largest plugin.yaml read, in bytes. */
export const MAX_MANIFEST_BYTES = 256 * 1024;

/** Deno system-information APIs a plugin may declare under `permissions.sys`. */
const SYS_NAMES = [
  "cpus",
  "hostname",
  "loadavg",
  "networkInterfaces",
  "osRelease",
  "osUptime",
  "systemMemoryInfo",
  "uid",
  "gid",
] as const;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** One config field: a JSON-Schema-like declaration. */
export const ConfigFieldSchema = z.object({
  type: z.enum(["string", "integer", "number", "boolean", "array", "object"]),
  description: z.string().max(1000).optional(),
  default: z.unknown().optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  enum: z.array(scalar).min(1).optional(),
  pattern: z.string().max(1000).optional(),
  min_length: z.int().min(0).optional(),
  max_length: z.int().min(0).optional(),
  items: z.enum(["string", "integer", "number", "boolean"]).optional(),
  max_items: z.int().min(0).optional(),
  required: z.boolean().optional(),
  /** Secret values are masked in every log line the plugin or the runtime writes. */
  secret: z.boolean().optional(),
}).strict();

/** A declared config field. */
export type ConfigField = z.infer<typeof ConfigFieldSchema>;

// Permission entries become comma-separated Deno flags: a comma would smuggle in a second grant.
const permEntry = z.string().min(1).max(4096).refine((s) => !s.includes(","), {
  message: "must not contain a comma",
}).refine((s) => !/[\0\n]/.test(s), { message: "must not contain NUL or newline" });
const permList = z.array(permEntry).max(64).default([]);

/** The manifest schema, defaults applied. */
export const ManifestSchema = z.object({
  id: z.string().regex(PLUGIN_ID_PATTERN, "must match ^[a-z0-9][a-z0-9-]{1,63}$"),
  name: z.string().min(1).max(200),
  version: z.string().regex(SEMVER, "must be a semantic version like 1.2.3"),
  description: z.string().max(2000).default(""),
  author: z.string().max(200).optional(),
  kind: z.enum(["trigger", "action", "output"]),
  entry: z.string().min(1).max(1000).default("mod.ts"),
  runtime: z.object({
    type: z.enum(RUNTIMES).default("deno"),
    version: z.string().max(32).optional(),
    protocol: z.enum(PROTOCOLS).default("lines"),
    requirements: z.string().max(256).optional(),
  }).strict().optional(),
  config: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/), ConfigFieldSchema)
    .default({}),
  permissions: z.object({
    read: permList,
    write: permList,
    net: permList,
    env: z.array(
      permEntry.refine((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s), {
        message: "must be an environment variable name",
      }).or(z.string().regex(/^\$\{config\.[a-zA-Z_][a-zA-Z0-9_]*\}$/)),
    ).max(64).default([]),
    run: permList,
    // Deno 2.9 demands --allow-all for any /proc or /sys read, so host metrics come through
    // these named system APIs instead (os.cpus(), Deno.loadavg(), Deno.systemMemoryInfo()...).
    sys: z.array(z.enum(SYS_NAMES)).max(SYS_NAMES.length).default([]),
  }).strict().default({ read: [], write: [], net: [], env: [], run: [], sys: [] }),
  limits: z.object({
    timeout_ms: z.int().min(1).max(MAX_TIMEOUT_MS).default(DEFAULT_TIMEOUT_MS),
    memory_mb: z.int().min(32).max(16_384).default(DEFAULT_MEMORY_MB),
    max_output_bytes: z.int().min(1024).max(MAX_OUTPUT_BYTES_CEILING).default(
      DEFAULT_MAX_OUTPUT_BYTES,
    ),
  }).strict().default({
    timeout_ms: DEFAULT_TIMEOUT_MS,
    memory_mb: DEFAULT_MEMORY_MB,
    max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
  }),
}).strict();

/** A validated manifest with defaults applied (contract 3). */
export type PluginManifest = z.infer<typeof ManifestSchema>;
/** A plugin kind. */
export type PluginKind = PluginManifest["kind"];
/** The three hard limits. */
export type Limits = PluginManifest["limits"];

/** True when the plugin runs in an external runtime (under bubblewrap), not in Deno. */
export function isExternal(m: Pick<PluginManifest, "runtime">): boolean {
  return m.runtime !== undefined && m.runtime.type !== "deno";
}

/**
 * Parses and validates plugin.yaml text; `where` names the file in errors.
 * @throws {PluginError} `invalid_manifest` naming the file, line or field at fault
 */
export function parseManifest(text: string, where: string): PluginManifest {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new PluginError(
      "invalid_manifest",
      `${where}: not valid YAML: ${errorMessage(err).split("\n")[0]}`,
      { cause: err },
    );
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new PluginError("invalid_manifest", `${where}: expected a mapping at the top level`);
  }
  const record = raw as Record<string, unknown>;
  // The Stavily dialect (nested under plugin:, or flat with runtime.entry_point) is mapped.
  if (isUpstreamManifest(record)) raw = fromUpstreamManifest(record);
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue.path.map(String).join(".") || "(top level)";
    throw new PluginError("invalid_manifest", `${where}: ${key}: ${issue.message}`);
  }
  checkConfigDeclarations(parsed.data, where);
  checkPermissionRefs(parsed.data, where);
  return parsed.data;
}

const PERMISSION_REF = /^\$\{config\.([a-zA-Z_][a-zA-Z0-9_]*)\}$/;

// A `${config.x}` entry naming no declared field could never be set (config rejects unknown
// fields), so it would grant nothing: a typo that silently takes a permission away.
function checkPermissionRefs(m: PluginManifest, where: string): void {
  for (const kind of ["read", "write", "net", "env", "run"] as const) {
    m.permissions[kind].forEach((entry, i) => {
      const name = PERMISSION_REF.exec(entry)?.[1];
      if (name !== undefined && !Object.hasOwn(m.config, name)) {
        throw new PluginError(
          "invalid_manifest",
          `${where}: permissions.${kind}.${i}: ${entry} names no field declared under config ` +
            `(declare config.${name}, or fix the name)`,
        );
      }
    });
  }
}

// Field declarations must be self-consistent: a bad regex or a default outside its own bounds is
// the author's bug, found at validate time rather than on the first call.
function checkConfigDeclarations(m: PluginManifest, where: string): void {
  for (const [name, f] of Object.entries(m.config)) {
    if (f.pattern !== undefined) {
      try {
        new RegExp(f.pattern);
      } catch {
        throw new PluginError("invalid_manifest", `${where}: config.${name}.pattern: bad regex`);
      }
    }
    if (f.minimum !== undefined && f.maximum !== undefined && f.minimum > f.maximum) {
      throw new PluginError("invalid_manifest", `${where}: config.${name}: minimum > maximum`);
    }
    if (f.items !== undefined && f.type !== "array") {
      throw new PluginError("invalid_manifest", `${where}: config.${name}.items: needs type array`);
    }
  }
}
