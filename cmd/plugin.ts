/**
 * `iatp plugin`: tools for plugin authors. `init DIR` scaffolds a new plugin that builds outside
 * any checkout; `validate DIR` checks the manifest, config schema and import audit; `run DIR`
 * runs one call in the full sandbox and prints the typed result;
 * `keygen`, `sign` and `verify` make and check plugin signatures (cmd/plugin/sign.ts).
 * @module
 */
import {
  fileRefGrants,
  flagErrorLine,
  MAX_TIMER_MS,
  parseDuration,
  parseFlags,
  type PathGrant,
} from "../core/config/mod.ts";
import { CheckFailedError, errorMessage, UsageError } from "../core/errors/mod.ts";
import { createLogger } from "../core/log/mod.ts";
import {
  isExternal,
  loadPlugin,
  PluginError,
  PluginRunner,
  SCAFFOLD_KINDS,
  scaffoldFiles,
  type ScaffoldKind,
} from "../core/plugin/mod.ts";
import type { PluginResult } from "../core/plugin/mod.ts";
import type { Command } from "./command.ts";
import { print, printErr } from "./shared.ts";
import { keygen, SIGN_USAGE, signDir, TRUSTED_KEYS_ENV, verifyDir } from "./plugin/sign.ts";

const USAGE = `Usage:
  iatp plugin init DIR [--kind trigger|action|output] [--id ID]
  iatp plugin validate DIR [--json]
  iatp plugin run DIR [--input JSON] [--config JSON] [--method detect|execute|send|health]
                      [--timeout DURATION] [--env NAME=VALUE]...
${SIGN_USAGE}

init      create DIR (new or empty) with plugin.yaml, mod.ts, sdk.ts (the authoring types, so
          the plugin type-checks outside any checkout) and a README; the id defaults to DIR's name
validate  check plugin.yaml (schema, config declarations) and audit every import
run       run one call in the full sandbox (child process, Worker permissions, limits) and print
          the result as JSON; exit 0 when the call succeeded, 1 when it failed

Flags:
  --input JSON        the request (action) or data (output) passed to the plugin
  --config JSON       plugin config (validated against the manifest; defaults applied)
  --method NAME       which function to call (default: detect, execute or send by plugin kind)
  --timeout DURATION  override limits.timeout_ms for this call (execute only), e.g. 2s
  --env NAME=VAL      value for an env var the manifest declares in permissions.env (repeatable)
  --json              validate: print the report as JSON
  --kind KIND         init: trigger (default), action or output
  --id ID             init: the plugin id (2-64 lowercase letters, digits, -)

The launchers grant exactly the folder and files named here (DIR, --key, --out, file: keys).`;

function parseJson(flag: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--${flag}: not valid JSON: ${errorMessage(err)}`, USAGE, { cause: err });
  }
}

function parse(argv: string[]) {
  try {
    return parseFlags(argv, {
      input: { type: "string" },
      config: { type: "string" },
      method: { type: "string" },
      timeout: { type: "string" },
      env: { type: "string", multiple: true },
      json: { type: "boolean" },
      kind: { type: "string" },
      id: { type: "string" },
      out: { type: "string" },
      key: { type: "string" },
      "trusted-keys": { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    }, true);
  } catch (err) {
    throw new UsageError(flagErrorLine(err), USAGE, { cause: err });
  }
}

// Load-time problems are the author's failed check (exit 1); bad flags, and a DIR that is not a
// folder, are usage errors (exit 2), as for sign and verify.
async function load(dir: string) {
  let isDir: boolean;
  try {
    isDir = (await Deno.stat(dir)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new UsageError(`cannot read ${dir}: ${errorMessage(err).split("\n")[0]}`, undefined, {
        cause: err,
      });
    }
    throw new UsageError(`no such folder ${dir}`, undefined, { cause: err });
  }
  if (!isDir) throw new UsageError(`${dir} is not a folder (a plugin is a folder)`);
  try {
    return await loadPlugin(dir);
  } catch (err) {
    if (err instanceof PluginError) {
      throw new CheckFailedError(`${err.code}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

async function validate(dir: string, json: boolean): Promise<number> {
  const p = await load(dir);
  const m = p.manifest;
  const report = {
    ok: true,
    id: m.id,
    version: m.version,
    kind: m.kind,
    runtime: m.runtime?.type ?? "deno",
    modules: p.audit.modules.length,
    computed_imports: p.audit.computedImports,
    permissions: m.permissions,
    limits: m.limits,
    config: Object.keys(m.config),
  };
  if (json) print(JSON.stringify(report));
  else {
    print(
      `ok: ${m.id} ${m.version} (${m.kind}), ${
        isExternal(m)
          ? `${report.runtime} entry ${m.entry} (its imports are not audited: it runs only in ` +
            "an agent's bubblewrap sandbox)"
          : `${report.modules} module(s) audited`
      }\n` +
        `  permissions: ${JSON.stringify(m.permissions)}\n  limits: ${JSON.stringify(m.limits)}` +
        (p.audit.computedImports.length > 0
          ? `\n  note: computed dynamic imports (left to the sandbox): ${
            p.audit.computedImports.join(", ")
          }`
          : ""),
    );
  }
  return 0;
}

async function runOnce(dir: string, v: ReturnType<typeof parse>["values"]): Promise<number> {
  const input = parseJson("input", v.input);
  const config = parseJson("config", v.config) ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new UsageError("--config: expected a JSON object", USAGE);
  }
  const env: Record<string, string> = {};
  for (const kv of v.env ?? []) {
    const at = kv.indexOf("=");
    if (at < 1) {
      throw new UsageError(`--env: expected NAME=VALUE, found ${JSON.stringify(kv)}`, USAGE);
    }
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  // A DURATION as everywhere (`2s`); a bare number is milliseconds, as before.
  const timeoutMs = v.timeout === undefined
    ? undefined
    : /^\d+$/.test(v.timeout)
    ? Number(v.timeout)
    : parseDuration(v.timeout);
  if (
    v.timeout !== undefined &&
    !(Number.isInteger(timeoutMs) && timeoutMs! > 0 && timeoutMs! <= MAX_TIMER_MS)
  ) {
    throw new UsageError(
      `--timeout: expected a duration such as 500ms or 2s (at most 24d), found ${v.timeout}`,
      USAGE,
    );
  }
  const plugin = await load(dir);
  if (isExternal(plugin.manifest)) {
    throw new UsageError(
      `${plugin.manifest.id} is a ${plugin.manifest.runtime?.type} plugin: it runs only inside ` +
        "an agent's bubblewrap sandbox (iatp sensor / iatp action), not with iatp plugin run",
    );
  }
  const m = plugin.manifest;
  const method = v.method ?? { trigger: "detect", action: "execute", output: "send" }[m.kind];
  // A flag the call would not use is an error, not silently dropped: the author meant something.
  if (timeoutMs !== undefined && method !== "execute") {
    throw new UsageError(
      `--timeout: only an execute call takes one (this call is ${method}); ` +
        `limits.timeout_ms in plugin.yaml bounds it`,
      USAGE,
    );
  }
  if (v.input !== undefined && (method === "detect" || method === "health")) {
    throw new UsageError(`--input: ${method}() takes no input`, USAGE);
  }
  const declared = m.permissions.env;
  if (!declared.some((e) => e.includes("${"))) {
    for (const name of Object.keys(env)) {
      if (declared.includes(name) || (name === "PATH" && m.permissions.run.length > 0)) continue;
      throw new UsageError(
        `--env ${name}: not declared in plugin.yaml, so the plugin would not see it ` +
          `(add "${name}" to permissions.env)`,
        USAGE,
      );
    }
  }
  let runner: PluginRunner;
  try {
    // A crashed host's output is named in the result by an incident id: its log line goes to
    // stderr, leaving the result on stdout JSON.
    const log = createLogger({ service: "plugin", level: "warn", sink: printErr });
    runner = new PluginRunner(plugin, { config: config as Record<string, unknown>, env, log });
  } catch (err) {
    if (err instanceof PluginError) throw new UsageError(err.message, undefined, { cause: err });
    throw err;
  }
  try {
    let r: PluginResult<unknown>;
    if (method === "detect") r = await runner.detect();
    else if (method === "execute") r = await runner.execute(input, { timeoutMs });
    else if (method === "send") r = await runner.send(input);
    else if (method === "health") r = await runner.health();
    else {throw new UsageError(
        `--method: expected detect|execute|send|health, found ${method}`,
        USAGE,
      );}
    print(JSON.stringify(r, null, 2));
    return r.ok ? 0 : 1;
  } finally {
    await runner.close();
  }
}

/** Writes a new plugin into `dir` (created, or empty). */
async function init(dir: string, kindFlag: string | undefined, idFlag: string | undefined) {
  const kind = (kindFlag ?? "trigger") as ScaffoldKind;
  if (!(kind in SCAFFOLD_KINDS)) {
    throw new UsageError(`--kind: expected trigger|action|output, found ${kindFlag}`, USAGE);
  }
  const id = idFlag ?? dir.replace(/\/+$/, "").split("/").pop()!.toLowerCase();
  let files;
  try {
    files = scaffoldFiles(id, kind);
  } catch (err) {
    if (!(err instanceof PluginError)) throw err;
    const hint = idFlag ? "" : " (the folder's name; pass --id)";
    throw new UsageError(
      "--id: expected a plugin id of 2 to 64 lowercase letters, digits and -, not starting " +
        `with -, found ${JSON.stringify(id)}${hint}`,
      USAGE,
      { cause: err },
    );
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err; // reported as a denied path
    throw new UsageError(
      `init: expected a new or empty folder, found ${dir}: ${errorMessage(err).split("\n")[0]}`,
      USAGE,
      { cause: err },
    );
  }
  for await (const _ of Deno.readDir(dir)) {
    throw new UsageError(`${dir} is not empty: init writes only into a new or empty folder`, USAGE);
  }
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text, { createNew: true });
  }
  print(`created ${kind} plugin ${id} in ${dir}: ${Object.keys(files).join(", ")}`);
  return 0;
}

const VERBS = ["init", "validate", "run", "keygen", "sign", "verify"];

/**
 * The paths a plugin command line names: the plugin folder (written by init and sign, read
 * otherwise), the signing key, a new key pair, trusted key files. A line that does not parse
 * names nothing (the command reports it).
 */
function pluginGrants(argv: string[]): PathGrant[] {
  let parsed;
  try {
    parsed = parse(argv);
  } catch {
    return [];
  }
  const { values, positionals: [verb, dir] } = parsed;
  const out: PathGrant[] = [];
  if (verb === "keygen" && values.out) {
    out.push({ path: values.out, access: "write" }, { path: `${values.out}.pub`, access: "write" });
  }
  if (dir && verb !== "keygen") {
    out.push({ path: dir, access: verb === "init" || verb === "sign" ? "write" : "read" });
  }
  if (values.key) out.push({ path: values.key, access: "read" });
  const keys = values["trusted-keys"] ?? [];
  for (const k of keys) out.push(...fileRefGrants(k));
  // Without the flag, verify reads the keys from the env var; its file: keys are granted alike.
  if (verb === "verify" && keys.length === 0) {
    for (const k of (Deno.env.get(TRUSTED_KEYS_ENV) ?? "").split(",")) {
      out.push(...fileRefGrants(k.trim()));
    }
  }
  return out;
}

/** The plugin command. */
export const command: Command = {
  usage: () => USAGE,
  grants: pluginGrants,
  async run(argv) {
    const { values, positionals } = parse(argv);
    if (values.help) {
      print(USAGE);
      return 0;
    }
    const [verb, dir, ...extra] = positionals;
    if (!verb || !VERBS.includes(verb)) {
      throw new UsageError(
        verb ? `unknown verb "${verb}"` : `missing verb (${VERBS.join(", ")})`,
        USAGE,
      );
    }
    if (verb === "keygen") {
      if (dir !== undefined) throw new UsageError(`unexpected argument "${dir}"`, USAGE);
      return await keygen(values.out);
    }
    if (!dir) throw new UsageError(`${verb}: missing plugin folder`, USAGE);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, USAGE);
    if (verb === "init") return await init(dir, values.kind, values.id);
    if (verb === "sign") return await signDir(dir, values.key);
    if (verb === "verify") return await verifyDir(dir, values["trusted-keys"]);
    return verb === "validate"
      ? await validate(dir, values.json ?? false)
      : await runOnce(dir, values);
  },
};
