/**
 * `iatp plugin init DIR`: a new plugin folder that works outside any checkout. It holds a
 * manifest, a module, and `sdk.ts`, a self-contained copy of the authoring types (the same file
 * the built-in plugins import from the repository), so the author's editor and `deno check`
 * resolve every type with nothing else installed.
 * @module
 */
import contractText from "./contract.ts" with { type: "text" };
import { PluginError } from "./errors.ts";
import { PLUGIN_ID_PATTERN } from "./manifest.ts";

/** The plugin kinds `init` scaffolds, and the function each exports. */
export const SCAFFOLD_KINDS = { trigger: "detect", action: "execute", output: "send" } as const;

/** A kind `init` can scaffold. */
export type ScaffoldKind = keyof typeof SCAFFOLD_KINDS;

/** The files of a new plugin, by name. */
export type ScaffoldFiles = Record<string, string>;

/**
 * The authoring types as one standalone file: contract.ts with its single import (the kind
 * union) written out, so nothing outside the plugin folder is needed.
 */
export function standaloneSdk(): string {
  const kinds = Object.keys(SCAFFOLD_KINDS).map((k) => JSON.stringify(k)).join(" | ");
  const body = contractText
    .replace(/^import type \{ PluginKind \} from "\.\/manifest\.ts";\n/m, "")
    .replace(/^export type \{ PluginKind \};\n/m, "")
    .replace(/\/\*\*\n \* The plugin authoring contract[\s\S]*?@module\n \*\/\n/, "");
  return [
    "/**",
    " * The iatp plugin authoring contract (types only), written by `iatp plugin init`. Import it",
    " * with `import type` only: nothing here exists at run time. It matches the iatp that wrote it.",
    " * @module",
    " */",
    "",
    "/** What kind of plugin this is: a trigger detects, an action executes, an output sends. */",
    `export type PluginKind = ${kinds};`,
    body.trimStart(),
  ].join("\n");
}

function manifest(id: string, kind: ScaffoldKind): string {
  const config = kind === "trigger"
    ? `config:
  threshold:
    type: number
    description: Value at or above which an event is raised.
    default: 80
    minimum: 0
    maximum: 100
  interval:
    type: integer
    description: Seconds between checks (the sensor's schedule).
    default: 30
    minimum: 1
    maximum: 86400
`
    : `config:
  greeting:
    type: string
    description: Text put in front of the request's name.
    default: Hello
`;
  return `id: ${id}
name: ${id}
version: 0.1.0
description: >-
  A new ${kind} plugin made by \`iatp plugin init\`; describe what it does here.
kind: ${kind}
entry: mod.ts
${config}# The Deno permissions the plugin runs with; it gets nothing else (no net, files, env).
permissions: {}
limits:
  timeout_ms: 10000
  memory_mb: 64
  max_output_bytes: 65536
`;
}

function module(id: string, kind: ScaffoldKind): string {
  if (kind === "trigger") {
    return `/**
 * ${id}: raises \`${id}.high\` when the sampled value reaches the configured threshold.
 * @module
 */
import type { PluginContext, TriggerEvent } from "./sdk.ts";

interface Config {
  threshold: number;
  interval: number;
}

/** Samples the value and returns the events to report (none when all is well). */
export function detect(ctx: PluginContext<Config>): TriggerEvent[] {
  const value = sample();
  ctx.log.debug("sampled", { value });
  if (value < ctx.config.threshold) return [];
  return [{
    id: crypto.randomUUID(),
    type: "${id}.high",
    source: ctx.plugin.id,
    timestamp: new Date().toISOString(),
    severity: value >= 95 ? "high" : "medium",
    data: { value, threshold: ctx.config.threshold },
    tags: [],
  }];
}

/** Replace with what the plugin measures (declare the permissions it needs in plugin.yaml). */
function sample(): number {
  return 100;
}
`;
  }
  const fn = SCAFFOLD_KINDS[kind];
  const type = kind === "action" ? "ExecuteFn" : "SendFn";
  return `/**
 * ${id}: a new ${kind} plugin; \`${fn}\` gets the validated config and the ${
    kind === "action" ? "request" : "data"
  }.
 * @module
 */
import type { ${type}, PluginContext } from "./sdk.ts";

interface Config {
  greeting: string;
}

/** Answers \`{message}\` for a \`{name}\` it is given. */
export const ${fn}: ${type}<Config> = (ctx: PluginContext<Config>, input: unknown) => {
  const name = typeof (input as { name?: unknown })?.name === "string"
    ? (input as { name: string }).name
    : "world";
  ctx.log.info("${fn}", { name });
  return { message: \`\${ctx.config.greeting}, \${name}\` };
};
`;
}

function readme(id: string, kind: ScaffoldKind): string {
  return `# ${id}

A ${kind} plugin for iatp. Try it in the same sandbox the agents use:

    iatp plugin validate .
    iatp plugin run .${kind === "trigger" ? "" : ` --input '{"name": "iatp"}'`}

\`sdk.ts\` holds the authoring types (import it with \`import type\` only); \`deno check mod.ts\`
checks the plugin. To install it on an action agent that only accepts signed plugins, sign it
with a key kept outside this folder (everything in the folder ships with the plugin):

    iatp plugin keygen --out ../${id}-signing.key
    iatp plugin sign . --key ../${id}-signing.key
`;
}

/**
 * The files of a new plugin `id` of `kind`.
 * @throws {PluginError} `invalid_manifest` when `id` is not a valid plugin id.
 */
export function scaffoldFiles(id: string, kind: ScaffoldKind): ScaffoldFiles {
  if (!PLUGIN_ID_PATTERN.test(id)) {
    throw new PluginError("invalid_manifest", `invalid plugin id ${JSON.stringify(id)}`);
  }
  return {
    "plugin.yaml": manifest(id, kind),
    "mod.ts": module(id, kind),
    "sdk.ts": standaloneSdk(),
    "README.md": readme(id, kind),
  };
}
